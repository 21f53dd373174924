"""The sample backup of ``vestige demo``: an ordinary phone with planted traces of a Pegasus attack.

The traces follow what Amnesty documented in the Maati Monjib and Omar Radi cases: an ``http://``
visit to yahoo.fr redirected (2.4 ms later, as Safari stamps any redirect) to a Pegasus exploit host
with random-looking labels on port 30495 and revisited with a long numeric fragment (reported high
for those traits of its destination and its indicator match, not its speed); Safari history
deleted a minute later; the Pegasus process name ``bh`` first using the network seconds after the
redirect; the Twitter app's web view recording the same site; and, days earlier, an SMS carrying a
link on a domain of Amnesty's Pegasus list. Everything else is ordinary noise that must not raise a
finding above info.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.schemas import DATAUSAGE, OBSERVATIONS_DB, SAFARI_HISTORY, SMS_DB
from vestige.ios.timestamps import MAC_EPOCH

INJECTION = datetime(2024, 5, 14, 9, 12, 41, 250000, tzinfo=timezone.utc)
EXPLOIT_URL = "https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz"
EXPLOIT_FRAGMENT = "#048634787343287485982474853012724998054718494423286"
SMS_LINK = "https://smscentro.com/c2q7/verify"


def mac_seconds(moment: datetime) -> float:
    return (moment - MAC_EPOCH).total_seconds()


def mac_nanoseconds(moment: datetime) -> int:
    return round(mac_seconds(moment) * 1e9)


def build_demo_backup(root: Path) -> Path:
    """Writes the sample backup into ``root`` (created) and returns it."""
    builder = BackupBuilder(root, backup_date=datetime(2024, 5, 20, 18, 30, tzinfo=timezone.utc))
    builder.add_database("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, _safari_history)
    builder.add_database("WirelessDomain", "Library/Databases/DataUsage.sqlite", DATAUSAGE, _datausage)
    builder.add_database("HomeDomain", "Library/SMS/sms.db", SMS_DB, _sms)
    builder.add_database(
        "AppDomain-com.atebits.Tweetie2",
        "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db",
        OBSERVATIONS_DB,
        _observations,
    )
    builder.add_plist(
        "HomeDomain",
        "Library/Preferences/com.apple.osanalytics.addaily.plist",
        {
            "netUsageBaseline": {
                name: [INJECTION.replace(tzinfo=None) - timedelta(days=3), 1.2e7, 3.4e6, 5.6e6, 7.8e5]
                for name in ("com.apple.WebKit.Networking", "nsurlsessiond", "apsd", "mDNSResponder")
            }
        },
    )
    builder.add_plist(
        "HomeDomain",
        "Library/Preferences/com.apple.identityservices.idstatuscache.plist",
        {
            "com.apple.madrid": {
                "mailto:amina.benali@example.org": {
                    "LookupDate": mac_seconds(INJECTION - timedelta(days=9)),
                    "IDStatus": 1,
                },
                "tel:+212612345699": {
                    "LookupDate": mac_seconds(INJECTION - timedelta(days=2)),
                    "IDStatus": 1,
                },
            }
        },
    )
    for index in range(12):
        builder.add_file(
            "CameraRollDomain",
            f"Media/DCIM/100APPLE/IMG_{4100 + index}.HEIC",
            bytes([index]) * (2048 + index),
            modified=INJECTION - timedelta(days=20 - index),
        )
    return builder.finish()


def _safari_history(db: sqlite3.Connection) -> None:
    ordinary = [
        ("https://www.lemonde.fr/", "Le Monde"),
        ("https://fr.wikipedia.org/wiki/Rabat", "Rabat — Wikipédia"),
        ("https://www.hespress.com/", "Hespress"),
        ("https://mail.google.com/mail/u/0/", "Gmail"),
        ("https://twitter.com/home", "Home / X"),
    ]
    urls = [u for u, _ in ordinary] + [
        "http://www.bbc.com/",
        "https://www.bbc.com/",
        "http://yahoo.fr/",
        EXPLOIT_URL,
        EXPLOIT_URL + EXPLOIT_FRAGMENT,
        "https://fr.yahoo.com/",
    ]
    for item_id, url in enumerate(urls, start=1):
        db.execute(
            "INSERT INTO history_items (id, url, visit_count, daily_visit_counts,"
            " should_recompute_derived_visit_counts, visit_count_score) VALUES (?, ?, 1, x'01', 0, 100)",
            (item_id, url),
        )
    visits: list[tuple[int, int, float, str | None, int | None, int | None]] = []
    start = INJECTION - timedelta(days=6)
    for day in range(6):
        for offset, (_, title) in enumerate(ordinary):
            moment = start + timedelta(days=day, hours=8 + offset, minutes=7 * offset)
            visits.append((len(visits) + 1, offset + 1, mac_seconds(moment), title, None, None))
    upgrade = INJECTION - timedelta(days=1, hours=3)
    visits.append((100, 6, mac_seconds(upgrade), None, None, 101))
    visits.append((101, 7, mac_seconds(upgrade + timedelta(milliseconds=41)), "BBC", 100, None))
    visits.append((102, 8, mac_seconds(INJECTION), None, None, 103))
    visits.append((103, 9, mac_seconds(INJECTION + timedelta(microseconds=2400)), None, 102, None))
    visits.append((104, 10, mac_seconds(INJECTION + timedelta(seconds=4.2)), None, None, None))
    visits.append((105, 11, mac_seconds(INJECTION + timedelta(seconds=31)), "Yahoo France", None, None))
    db.executemany(
        "INSERT INTO history_visits (id, history_item, visit_time, title, redirect_source, redirect_destination)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        visits,
    )
    wipe = INJECTION + timedelta(minutes=1)
    db.execute(
        "INSERT INTO history_tombstones (start_time, end_time, url, generation) VALUES (?, ?, NULL, 1)",
        (mac_seconds(INJECTION - timedelta(minutes=5)), mac_seconds(wipe)),
    )


def _datausage(db: sqlite3.Connection) -> None:
    names = [
        ("apsd", None),
        ("mDNSResponder", None),
        ("nsurlsessiond", None),
        ("com.apple.WebKit.Networking", None),
        ("MobileSafari", "com.apple.mobilesafari"),
        ("Twitter", "com.atebits.Tweetie2"),
        ("WhatsApp", "net.whatsapp.WhatsApp"),
        ("itunesstored", None),
        ("softwareupdated", None),
        ("CommCenter", None),
    ]
    first = INJECTION - timedelta(days=30)
    rows = [
        (
            pk,
            10,
            1,
            mac_seconds(first + timedelta(hours=pk)),
            mac_seconds(INJECTION - timedelta(hours=pk)),
            bundle,
            name,
        )
        for pk, (name, bundle) in enumerate(names, start=1)
    ]
    bh_seen = INJECTION + timedelta(seconds=8)
    rows.append((len(rows) + 1, 10, 1, mac_seconds(bh_seen), mac_seconds(bh_seen + timedelta(minutes=3)), None, "bh"))
    db.executemany("INSERT INTO ZPROCESS VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    usage = [
        (pk, 8, 1, 0, 0, 0, pk, None, timestamp, 1.5e6 * pk, 2.1e5 * pk, 3.0e5, 4.0e4)
        for pk, _, _, _, timestamp, _, _ in rows
    ]
    db.executemany("INSERT INTO ZLIVEUSAGE VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", usage)
    db.executemany(
        "INSERT INTO Z_PRIMARYKEY VALUES (?, ?, 0, ?)",
        [(8, "LiveUsage", len(usage)), (10, "Process", len(rows))],
    )


def _sms(db: sqlite3.Connection) -> None:
    db.executemany(
        "INSERT INTO handle (ROWID, id, country, service) VALUES (?, ?, 'ma', ?)",
        [(1, "+212612345699", "iMessage"), (2, "+212600112233", "SMS")],
    )
    conversation = [
        (1, "Tu peux m'envoyer le brouillon de l'article ?", 0, 6),
        (1, "Oui, ce soir.", 1, 6),
        (2, f"Votre colis est retenu. Confirmez l'adresse de livraison: {SMS_LINK}", 0, 4),
        (1, "On se voit demain à la rédaction", 0, 2),
    ]
    for rowid, (handle, text, from_me, days_before) in enumerate(conversation, start=1):
        moment = INJECTION - timedelta(days=days_before, hours=rowid)
        db.execute(
            "INSERT INTO message (ROWID, guid, text, handle_id, service, date, is_from_me)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                rowid,
                f"5E3A1F0C-0000-4000-8000-00000000000{rowid}",
                text,
                handle,
                "iMessage" if handle == 1 else "SMS",
                mac_nanoseconds(moment),
                from_me,
            ),
        )


def _observations(db: sqlite3.Connection) -> None:
    domains = ["twitter.com", "twimg.com", "t.co", "free247downloads.com", "lemonde.fr"]
    db.executemany(
        "INSERT INTO ObservedDomains VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
        [
            (
                number,
                domain,
                (INJECTION - timedelta(hours=len(domains) - number)).timestamp(),
                1 if number < 4 else 0,
            )
            for number, domain in enumerate(domains, start=1)
        ],
    )
