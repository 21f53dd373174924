"""Benchmark: ``vestige check`` against MVT's ``mvt-ios check-backup -H`` on one large, realistic iOS backup.

Run from the repository root with vestige importable (``pip install -e .`` or ``PYTHONPATH=src``)::

    python benchmarks/ios_backup.py [--workdir DIR] [--keep] [--runs N] [--rebuild]

What it does, all offline:

1. Builds, once, an unencrypted iOS backup with ``vestige.ios.sample.BackupBuilder`` (the real
   ``Manifest.db`` layout, NSKeyedArchiver ``MBFile`` blobs) and the real CREATE statements of
   ``vestige.ios.sample.schemas``, from a fixed seed, so it is the same on every run: 200,000
   ``Manifest.db`` entries over HomeDomain, MediaDomain, CameraRollDomain, RootDomain,
   WirelessDomain and hundreds of AppDomain-/AppDomainGroup-/AppDomainPlugin- containers (caches,
   documents, preferences, WebKit website data named ``https_<host>_0``, photos). 20,000 files have
   content (about 1 GiB: mostly plists and SQLite databases of a few KB, some hundreds of KB, a few
   photos of a few MB); the other files are written empty (as lock files and checkpointed ``-wal``
   journals are) so that the folder stays near 1 GiB while both tools still list, open and hash
   every one of them. Among the content: a Safari ``History.db`` with 100,000 visits (about 5%
   http-to-https upgrades on the same site within tens of ms, 0.5% cross-site redirects, items
   reused across visits, a few tombstones), an ``sms.db`` with 50,000 messages (about 10% with
   links, some attachments), a ``DataUsage.sqlite`` with 20,000 processes and 40,000 usage rows, the
   osanalytics ``addaily`` plist, the ``idstatuscache`` plist and five WebKit ``observations.db``.
   A handful of real indicator hits are planted (``PLANTS``); both tools should report each one.
   The backup is cached in the work folder under ``backup-v<BACKUP_VERSION>``.
2. Installs the latest ``mvt`` from PyPI into its own virtual environment in the work folder (once).
3. Reads every file of the backup once, untimed, so that both tools start with a warm page cache,
   then runs, alternately and ``--runs`` times each (default 2), then once more each for memory:
   ``python -m vestige check BACKUP -o OUT -q`` with all bundled indicator sets (the default), and
   ``mvt-ios --disable-update-check --disable-indicator-update-check check-backup -H --iocs F ...
   -o OUT BACKUP`` with every ``*.stix2`` file bundled with vestige (MVT reads STIX only, so
   vestige's plain domain list and stalkerware YAML are not given to it), with
   ``MVT_NETWORK_ACCESS_ALLOWED=false`` and MVT's data and config folders inside the work folder.
   Both hash every input file (vestige always does; ``-H`` makes MVT do it). Before each run, the
   dirty pages left by the previous one (of either tool) are flushed (``os.sync``, untimed), so that
   no writeback of one tool's output runs behind the next measurement, as in ``custody.py``.

Each run's wall time is measured around the child process; with two runs the better one is
reported, with three or more the median. Peak memory comes from one more run of each tool, the
largest sum of proportional set size (PSS) over the child and its worker processes, sampled every
50 ms (never less than the child's own ``ru_maxrss``), so that vestige's forked workers are counted.
The timed runs are not sampled: reading /proc every 50 ms takes CPU from a tool that uses every
core (vestige) and not from one that uses one (MVT); the memory run's time is printed too.

How to read the table: ``MVT/vestige`` for time is how many times longer MVT took (higher is better
for vestige; the target is at least 10x); ``vestige/MVT`` for memory is the fraction of MVT's peak
resident memory that vestige needed (lower is better; the target is at most 0.25). The sanity
section counts each tool's critical and high results and says whether each planted trace was found
by both. The script exits non-zero when a tool fails, reports an incomplete analysis, or misses a
planted trace. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import plistlib
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import vestige
from memory import PeakSampler
from vestige.ios.sample.backup import BackupBuilder, Device
from vestige.ios.sample.schemas import DATAUSAGE, OBSERVATIONS_DB, SAFARI_HISTORY, SMS_DB
from vestige.ios.timestamps import MAC_EPOCH

# Bump when anything below changes the generated backup: the cached copy is keyed by it.
BACKUP_VERSION = 1
SEED = 20240514

MIN_ENTRIES = 200_000
CONTENT_FILES = 20_000
SAFARI_VISITS = 100_000
SMS_MESSAGES = 50_000
PROCESSES = 20_000
LIVE_USAGE = 40_000
BLOCK_SIZE = 8 << 20

TIME_TARGET = 10.0
MEMORY_TARGET = 0.25

BACKUP_DATE = datetime(2024, 5, 20, 18, 30, tzinfo=timezone.utc)
HISTORY_START = BACKUP_DATE - timedelta(days=365)
MESSAGES_START = BACKUP_DATE - timedelta(days=730)
FILES_START = BACKUP_DATE - timedelta(days=900)

# The planted traces (Amnesty's 2021-07-18 Pegasus indicators, as the vestige demo plants them).
INJECTION = datetime(2024, 5, 14, 9, 12, 41, 250000, tzinfo=timezone.utc)
EXPLOIT_HOST = "k2v9xq7h.lp4n6wm1.free247downloads.com"
EXPLOIT_URL = f"https://{EXPLOIT_HOST}:30872/ahz4xv2"
EXPLOIT_FRAGMENT = "#" + "604812779301846257731902648815509347126683019" + "482913"
SMS_LINK = "https://smscentro.com/r7kq/verify"
SMS_SENDER = "+212600112233"
PEGASUS_EMAIL = "bogaardlisa803@gmail.com"
PEGASUS_PROCESS = "bh"
ADDAILY_PROCESS = "msgacntd"
WEBVIEW_APP = "com.atebits.Tweetie2"
WEBKIT_DOMAIN = "free247downloads.com"
MANIFEST_FOLDER_HOST = "news.weather4free.com"


@dataclass(frozen=True)
class Plant:
    """A planted trace: the vestige rule and MVT module that should report it, and the indicator value."""

    what: str
    vestige_rule: str
    mvt_module: str
    value: str


PLANTS = (
    Plant(
        "Safari visit to a free247downloads.com subdomain",
        "ios.safari_history.indicator_match",
        "safari_history",
        "free247downloads.com",
    ),
    Plant("process 'bh' in DataUsage.sqlite", "ios.datausage.indicator_match", "datausage", PEGASUS_PROCESS),
    Plant("SMS link on smscentro.com", "ios.sms.indicator_match", "sms", "smscentro.com"),
    Plant(
        "free247downloads.com in a web view's observations.db",
        "ios.webkit_observations.indicator_match",
        "webkit_resource_load_statistics",
        WEBKIT_DOMAIN,
    ),
    Plant(
        "Pegasus e-mail in idstatuscache.plist", "ios.idstatuscache.indicator_match", "id_status_cache", PEGASUS_EMAIL
    ),
    Plant(
        "process 'msgacntd' in the osanalytics addaily plist",
        "ios.osanalytics_addaily.indicator_match",
        "os_analytics_ad_daily",
        ADDAILY_PROCESS,
    ),
    Plant(
        "WebKit folder https_news.weather4free.com_0", "ios.manifest.indicator_match", "manifest", "weather4free.com"
    ),
)


def words(text: str) -> list[str]:
    return text.split()


# Ordinary data. None of these names is on an indicator list (checked when the constants were written).
SITES = words(
    """
www.google.com www.youtube.com fr.wikipedia.org en.wikipedia.org www.nytimes.com www.bbc.com www.bbc.co.uk
www.lemonde.fr www.theguardian.com www.reddit.com github.com stackoverflow.com www.amazon.com www.apple.com
www.instagram.com www.facebook.com twitter.com x.com www.linkedin.com medium.com www.espn.com weather.com
www.booking.com www.airbnb.com open.spotify.com www.netflix.com www.imdb.com edition.cnn.com www.reuters.com
apnews.com www.lefigaro.fr www.spiegel.de elpais.com www.aljazeera.com www.hespress.com le360.ma www.yabiladi.com
www.allocine.fr www.marmiton.org www.leboncoin.fr www.sncf-connect.com www.doctolib.fr www.ouest-france.fr
www.liberation.fr www.mediapart.fr www.france24.com www.rfi.fr www.euronews.com arstechnica.com www.wired.com
www.theverge.com www.nature.com arxiv.org www.mozilla.org www.python.org wordpress.com www.pinterest.com
www.etsy.com www.ebay.com www.paypal.com www.dropbox.com zoom.us slack.com www.notion.so duckduckgo.com
www.bing.com fr.yahoo.com mail.google.com maps.google.com news.google.com www.washingtonpost.com www.economist.com
www.ft.com www.bloomberg.com www.lesechos.fr www.20minutes.fr www.leparisien.fr www.lequipe.fr www.tf1info.fr
www.francetvinfo.fr www.arte.tv www.deezer.com www.twitch.tv www.tiktok.com www.whatsapp.com web.telegram.org
www.wikihow.com www.tripadvisor.com www.expedia.com www.skyscanner.net www.ryanair.com www.airfrance.fr
www.ikea.com www.decathlon.fr www.fnac.com www.carrefour.fr www.zara.com www.hm.com www.nike.com
www.jumia.ma www.avito.ma www.medias24.com www.lavieeco.com www.telquel.ma www.2m.ma www.alyaoum24.com
developer.apple.com support.apple.com www.icloud.com outlook.live.com www.office.com www.coursera.org
www.khanacademy.org www.duolingo.com www.goodreads.com www.scribd.com www.quora.com news.ycombinator.com
"""
)
SHORTENERS = ("t.co", "bit.ly", "lnkd.in", "buff.ly", "ow.ly")
TRACKERS = words(
    """
doubleclick.net googlesyndication.com google-analytics.com googletagmanager.com facebook.net fbcdn.net
scorecardresearch.com amazon-adsystem.com criteo.com taboola.com outbrain.com adnxs.com twimg.com gstatic.com
cloudfront.net akamaihd.net cloudflare.com jsdelivr.net hotjar.com chartbeat.com
"""
)
WORDS = words(
    """
actualites politique economie sport culture monde video article live meteo recette voyage sante tech science
maroc rabat casablanca paris elections climat football match resultats agenda dossier interview analyse
opinion photos podcast search watch results news story world business travel food health music cinema
books style home account login settings profile messages notifications explore trending today week 2024
guide review best how-to city region africa europe energy water school university jobs housing
"""
)
TITLE_WORDS = words(
    """
Le Monde Infos Direct Analyse Maroc Paris Rabat Match Résultats Recette Voyage Santé Climat Élections Économie
Culture Cinéma Musique Sport Football News World Business Review Guide Best Today Live Video Photos Podcast
"""
)
MESSAGE_TEMPLATES = (
    "On se voit demain ?",
    "Oui, ce soir.",
    "Tu peux m'envoyer le document ?",
    "Je suis en route",
    "Merci beaucoup !",
    "D'accord, à plus tard",
    "Call me when you can",
    "Running 10 minutes late, sorry",
    "Did you see the news?",
    "Bon anniversaire !!",
    "Le rendez-vous est confirmé pour jeudi 10h",
    "Votre code de vérification est {code}",
    "Your verification code is {code}",
    "Rappel : votre colis sera livré aujourd'hui",
    "C'est noté, merci",
    "Tu es où ?",
    "Ok 👍",
    "Haha 😂",
    "Bonne nuit",
    "Je te rappelle dans 5 min",
)
LINK_TEMPLATES = (
    "Regarde ça : {url}",
    "{url}",
    "Check this out {url}",
    "L'article dont je parlais : {url}",
    "Voici le lien {url}",
    "{url} c'est incroyable",
)
KNOWN_APPS = (
    ("net.whatsapp.WhatsApp", "WhatsApp"),
    ("ph.telegra.Telegraph", "Telegram"),
    ("com.atebits.Tweetie2", "Twitter"),
    ("com.facebook.Facebook", "Facebook"),
    ("com.burbn.instagram", "Instagram"),
    ("com.google.Gmail", "Gmail"),
    ("com.linkedin.LinkedIn", "LinkedIn"),
    ("org.whispersystems.signal", "Signal"),
    ("com.spotify.client", "Spotify"),
    ("com.netflix.Netflix", "Netflix"),
    ("com.toyopagroup.picaboo", "Snapchat"),
    ("com.zhiliaoapp.musically", "TikTok"),
    ("com.microsoft.Office.Outlook", "Outlook"),
    ("com.google.Maps", "GoogleMaps"),
    ("com.google.GoogleMobile", "Google"),
    ("com.skype.skype", "Skype"),
    ("us.zoom.videomeetings", "zoom.us"),
    ("com.tinyspeck.chatlyio", "Slack"),
    ("com.getdropbox.Dropbox", "Dropbox"),
    ("com.amazon.Amazon", "Amazon"),
    ("com.ubercab.UberClient", "Uber"),
    ("com.airbnb.app", "Airbnb"),
    ("com.booking.BookingApp", "Booking.com"),
    ("com.duolingo.DuolingoMobile", "Duolingo"),
    ("com.nytimes.NYTimes", "NYTimes"),
    ("com.reddit.Reddit", "Reddit"),
    ("com.medium.reader", "Medium"),
    ("com.shazam.Shazam", "Shazam"),
    ("com.yourcompany.PPClient", "PayPal"),
    ("com.apple.mobilesafari", "MobileSafari"),
    ("com.apple.mobilenotes", "MobileNotes"),
    ("com.apple.Maps", "Maps"),
    ("com.apple.podcasts", "Podcasts"),
    ("com.apple.news", "News"),
)
WEBVIEW_APPS = (WEBVIEW_APP, "com.facebook.Facebook", "com.linkedin.LinkedIn", "com.google.Gmail", "com.reddit.Reddit")
VENDORS = words(
    """
acme bluefin northwind contoso fabrikam tailspin wingtip adatum litware proseware lucerne margie fourthcoffee
humongous wideworld alpineski blueyonder coho relecloud woodgrove vanarsdel munson southridge fineart
greenleaf redpanda sunbeam bytebloom pixelforge cedarsoft harborlight quietriver stonebridge mapleway
silverline brightpath clearwave northstar oakridge bluepeak amberlane copperfox driftwood emberline foxglove
goldcrest hazelnut ironbark juniper kestrel lanternfish moonrise nettlefield opaline pinecone quillpoint
rosewater saffron tidepool
"""
)
PRODUCTS = words(
    """
Notes Budget Weather Radio Scanner Atlas Fitness Recipes Translate Wallet Tickets Transit Podcasts Reader Gallery
Editor Chess Sudoku Planner Tasks Habits Meditate Sleep Bank Shop Delivery Parking Taxi Flights Hotels Dictionary
Prayer Football Cricket Headlines Camera Video Music Stocks Crypto Learn Kids Recorder Vpn Cleaner Fonts Stickers
Scores Cycling
"""
)
EXTENSIONS = (
    "NotificationServiceExtension",
    "ShareExtension",
    "WidgetExtension",
    "IntentsExtension",
    "NotificationContentExtension",
    "BroadcastUploadExtension",
    "KeyboardExtension",
    "FileProviderExtension",
    "com.apple.WebKit.Networking",
    "com.apple.WebKit.WebContent",
)
DAEMONS = words(
    """
apsd mDNSResponder nsurlsessiond com.apple.WebKit.Networking itunesstored softwareupdated CommCenter
identityservicesd imagent cloudd assistantd locationd geod parsecd trustd akd appstored mobileassetd
kbd searchpartyd bird mediaserverd timed syncdefaultsd suggestd photoanalysisd assetsd cloudphotod
remindd dataaccessd accountsd adprivacyd nanoregistryd passd coreduetd routined sharingd rapportd
duetexpertd homed healthd wifid bluetoothd findmydeviced mapspushd newsd amsaccountsd amsengagementd
storekitd mobileactivationd lockdownd SpringBoard backboardd MobileSafari MobileMail MobileSMS
com.apple.Safari.SafeBrowsing.Service fitnesscoachingd callservicesd tipsd weatherd stocks
"""
)
HOME_PREFERENCES = words(
    """
com.apple.mobilesafari com.apple.Preferences com.apple.springboard com.apple.mobilephone com.apple.MobileSMS
com.apple.mobilemail com.apple.Maps com.apple.weather com.apple.stocks com.apple.mobilenotes com.apple.camera
com.apple.mobileslideshow com.apple.Music com.apple.podcasts com.apple.news com.apple.AppStore com.apple.itunesstored
com.apple.assistant.support com.apple.Accessibility com.apple.locationd com.apple.airplay com.apple.Sharing
com.apple.keyboard com.apple.keyboard.preferences com.apple.CoreDuet com.apple.routined com.apple.healthd
com.apple.homed com.apple.findmy com.apple.icloud.searchpartyd com.apple.cloudd com.apple.bird
com.apple.imservice.SMS com.apple.madrid com.apple.facetime com.apple.voicemail com.apple.WebUI
com.apple.mobileipod com.apple.purplebuddy com.apple.SetupAssistant com.apple.TextInput com.apple.spotlightui
com.apple.mobiletimer com.apple.reminders com.apple.mobilecal com.apple.suggestions com.apple.tips
"""
)
ROOT_PREFERENCES = words(
    """
com.apple.MobileBackup com.apple.mobile.ldbackup com.apple.networkextension com.apple.wifi.known-networks
com.apple.coreservices.useractivityd com.apple.security com.apple.timed com.apple.preferences.network
"""
)
BANNED_NAMES = {
    # Files the two tools parse: only the real ones may be written under these names.
    "History.db",
    "sms.db",
    "DataUsage.sqlite",
    "observations.db",
    "TCC.db",
    "Calendar.sqlitedb",
    "AddressBook.sqlitedb",
    "interactionC.db",
    "CallHistory.storedata",
    "ChatStorage.sqlite",
    "BrowserState.db",
    "Shortcuts.sqlite",
    "clients.plist",
    ".GlobalPreferences.plist",
    "browser.db",
    "MCProfileEvents.plist",
    "full_browsing_session_resourceLog.plist",
    "com.apple.osanalytics.addaily.plist",
    "com.apple.identityservices.idstatuscache.plist",
}


@dataclass(frozen=True)
class Category:
    """How a planned file is filled when it gets content."""

    kind: str  # "plist", "sqlite", "blob" or "empty"
    low: int
    high: int
    required: bool
    magic: bytes = b""


CATEGORIES = {
    "preferences": Category("plist", 600, 12_000, True),
    "photo": Category("blob", 1_500_000, 4_500_000, True, b"\x00\x00\x00\x18ftypheic"),
    "thumbnail": Category("blob", 20_000, 120_000, True, b"\xff\xd8\xff\xe1"),
    "attachment": Category("blob", 60_000, 1_500_000, True, b"\xff\xd8\xff\xe0"),
    "snapshot": Category("blob", 80_000, 500_000, True, b"\xabKTX 11\xbb\r\n\x1a\n"),
    "cache_db": Category("sqlite", 16_000, 300_000, True),
    "cookies": Category("blob", 500, 16_000, True, b"cook"),
    "cache": Category("blob", 800, 90_000, False),
    "document": Category("plist", 500, 40_000, False),
    "local_storage": Category("sqlite", 4_000, 64_000, False),
    "indexed_db": Category("sqlite", 16_000, 200_000, False),
    "support": Category("blob", 500, 48_000, False),
    "journal": Category("empty", 0, 0, False),
}


@dataclass(frozen=True)
class Container:
    """An app container (AppDomain-, AppDomainGroup-, AppDomainPlugin-) or a system domain's cache area."""

    domain: str
    bundle: str
    weight: float
    app: bool
    webview: bool


@dataclass
class Plan:
    """Every Manifest.db entry to write, in order; directories are derived from the files' parents."""

    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (domain, path) -> category
    directories: dict[tuple[str, str], None] = field(default_factory=dict)

    def add(self, domain: str, path: str, category: str) -> bool:
        key = (domain, path)
        if key in self.files or key in self.directories:
            return False
        if category != "real" and path.rsplit("/", 1)[-1] in BANNED_NAMES:
            raise ValueError(f"{domain}/{path}: a generated file would shadow an artifact the tools parse")
        self.files[key] = category
        parts = path.split("/")[:-1]
        for depth in range(len(parts) + 1):
            self.directories.setdefault((domain, "/".join(parts[:depth])), None)
        return True

    def directory(self, domain: str, path: str) -> None:
        parts = path.split("/")
        for depth in range(len(parts) + 1):
            self.directories.setdefault((domain, "/".join(parts[:depth])), None)

    def entries(self) -> int:
        return len(self.files) + len(self.directories)


# --------------------------------------------------------------------------------------------------
# Small helpers


def mac_seconds(moment: datetime) -> float:
    return (moment - MAC_EPOCH).total_seconds()


def mac_nanoseconds(moment: datetime) -> int:
    return round(mac_seconds(moment) * 1e9)


def upper_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(count)]


def cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def page_path(rng: random.Random) -> str:
    depth = rng.choice((1, 1, 2, 2, 3))
    parts = [rng.choice(WORDS) for _ in range(depth)]
    if rng.random() < 0.5:
        parts[-1] = f"{parts[-1]}-{rng.randrange(10_000, 999_999)}"
    return "/" + "/".join(parts) + rng.choice(("", "", "/", ".html"))


def title_for(host: str, rng: random.Random) -> str:
    name = host.removeprefix("www.").split(".")[0].capitalize()
    return f"{' '.join(rng.choice(TITLE_WORDS) for _ in range(rng.randint(2, 6)))} - {name}"


def phone_number(rng: random.Random) -> str:
    country = rng.choice(("+2126", "+2127", "+336", "+337", "+1415", "+4479"))
    return country + "".join(str(rng.randrange(10)) for _ in range(12 - len(country) + 1))


def stix_files() -> list[Path]:
    return sorted((Path(vestige.__file__).parent / "indicators" / "data").rglob("*.stix2"))


# --------------------------------------------------------------------------------------------------
# The databases and plists with artifacts


def fill_safari(db: sqlite3.Connection) -> None:
    rng = random.Random(f"{SEED}-safari")
    weights = cumulative(zipf_weights(len(SITES)))
    pages: dict[str, list[str]] = {}
    items: dict[str, int] = {}
    counts: dict[int, int] = {}
    visits: list[tuple[int, int, float, str | None, int | None, int | None, int]] = []

    def item(url: str) -> int:
        number = items.setdefault(url, len(items) + 1)
        counts[number] = counts.get(number, 0) + 1
        return number

    def visit(url: str, moment: datetime, title: str | None, source: int | None, redirect: bool) -> int:
        number = len(visits) + 1
        destination = number + 1 if redirect else None
        visits.append((number, item(url), mac_seconds(moment), title, source, destination, int(rng.random() < 0.2)))
        return number

    def page(host: str) -> str:
        known = pages.setdefault(host, [])
        if known and rng.random() < 0.65:
            return rng.choice(known)
        path = page_path(rng)
        known.append(path)
        return path

    kinds: list[str] = []
    total = 4  # the planted visits
    while total < SAFARI_VISITS:
        roll = rng.random()
        kind = "upgrade" if roll < 0.05 else "cross-site" if roll < 0.055 else "plain"
        if kind != "plain" and total + 2 > SAFARI_VISITS:
            kind = "plain"
        kinds.append(kind)
        total += 1 if kind == "plain" else 2
    span = (BACKUP_DATE - timedelta(hours=2) - HISTORY_START).total_seconds()
    times = sorted(HISTORY_START + timedelta(seconds=rng.uniform(0, span)) for _ in kinds)
    planted = False
    for kind, moment in zip(kinds, times, strict=True):
        if not planted and moment >= INJECTION:
            planted = True
            head = visit("http://yahoo.fr/", INJECTION, None, None, True)
            visit(EXPLOIT_URL, INJECTION + timedelta(microseconds=2400), None, head, False)
            visit(EXPLOIT_URL + EXPLOIT_FRAGMENT, INJECTION + timedelta(seconds=4.2), None, None, False)
            visit("https://fr.yahoo.com/", INJECTION + timedelta(seconds=31), "Yahoo France", None, False)
        host = SITES[rng.choices(range(len(SITES)), cum_weights=weights)[0]]
        path = page(host)
        title = title_for(host, rng)
        if kind == "upgrade":
            head = visit(f"http://{host}{path}", moment, None, None, True)
            delay = timedelta(milliseconds=rng.uniform(8, 90))
            visit(f"https://{host}{path}", moment + delay, title, head, False)
        elif kind == "cross-site":
            shortener = rng.choice(SHORTENERS)
            token = "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
            scheme = "http" if rng.random() < 0.1 else "https"
            head = visit(f"{scheme}://{shortener}/{token}", moment, None, None, True)
            delay = timedelta(milliseconds=rng.uniform(80, 900))
            visit(f"https://{host}{path}", moment + delay, title, head, False)
        else:
            visit(f"https://{host}{path}", moment, title, None, False)
    db.executemany(
        "INSERT INTO history_items (id, url, domain_expansion, visit_count, daily_visit_counts,"
        " should_recompute_derived_visit_counts, visit_count_score) VALUES (?, ?, ?, ?, ?, 0, ?)",
        [
            (
                number,
                url,
                url.split("/")[2].removeprefix("www.").split(".")[0],
                counts[number],
                min(counts[number], 20).to_bytes(4, "little"),
                100 * min(counts[number], 50),
            )
            for url, number in items.items()
        ],
    )
    db.executemany(
        "INSERT INTO history_visits (id, history_item, visit_time, title, redirect_source, redirect_destination,"
        " origin) VALUES (?, ?, ?, ?, ?, ?, ?)",
        visits,
    )
    tombstones = [(INJECTION - timedelta(minutes=5), INJECTION + timedelta(minutes=1))]
    for _ in range(4):
        end = HISTORY_START + timedelta(seconds=rng.uniform(0, 360 * 86400))
        tombstones.append((end - timedelta(hours=1), end))
    db.executemany(
        "INSERT INTO history_tombstones (start_time, end_time, url, generation) VALUES (?, ?, ?, 1)",
        [(mac_seconds(start), mac_seconds(end), rng.randbytes(64)) for start, end in sorted(tombstones)],
    )
    db.executemany("INSERT INTO metadata (key, value) VALUES (?, ?)", [("version", 16), ("last_compaction_time", 0)])


def make_sms(attachments: list[str]) -> Callable[[sqlite3.Connection], None]:
    """The sms.db filler; fills ``attachments`` with the relative paths its attachment rows name."""

    def fill(db: sqlite3.Connection) -> None:
        rng = random.Random(f"{SEED}-sms")
        handles: list[tuple[int, str, str, str]] = []
        for number in range(1, 481):
            service = "iMessage" if rng.random() < 0.7 else "SMS"
            handle = phone_number(rng) if service == "SMS" or rng.random() < 0.8 else f"contact{number}@icloud.com"
            handles.append((number, handle, rng.choice(("ma", "fr", "us", "gb")), service))
        handles.append((len(handles) + 1, SMS_SENDER, "ma", "SMS"))
        db.executemany("INSERT INTO handle (ROWID, id, country, service) VALUES (?, ?, ?, ?)", handles)
        db.executemany(
            "INSERT INTO chat (ROWID, guid, style, state, account_id, chat_identifier, service_name)"
            " VALUES (?, ?, 45, 3, ?, ?, ?)",
            [(n, f"{service};-;{handle}", upper_uuid(rng), handle, service) for n, handle, _, service in handles],
        )
        db.executemany("INSERT INTO chat_handle_join VALUES (?, ?)", [(n, n) for n, *_ in handles])
        weights = cumulative(zipf_weights(len(handles) - 1, 1.2))
        messages: list[tuple[Any, ...]] = []
        joins: list[tuple[int, int, int]] = []
        attachment_rows: list[tuple[Any, ...]] = []
        span = (BACKUP_DATE - timedelta(hours=1) - MESSAGES_START).total_seconds()
        times = sorted(MESSAGES_START + timedelta(seconds=rng.uniform(0, span)) for _ in range(SMS_MESSAGES))
        # The planted SMS is received days before the planted Safari redirect.
        planted = next(i for i, moment in enumerate(times) if moment >= INJECTION - timedelta(days=4)) + 1
        current = 1
        for rowid, moment in enumerate(times, start=1):
            if rowid == planted:
                handle_row = handles[-1]
                text = f"Votre colis est retenu. Confirmez l'adresse de livraison: {SMS_LINK}"
                from_me = 0
            else:
                if rng.random() > 0.7:
                    current = rng.choices(range(len(handles) - 1), cum_weights=weights)[0]
                handle_row = handles[current]
                from_me = int(rng.random() < 0.45)
                if rng.random() < 0.10:
                    if rng.random() < 0.15:
                        url = f"https://{rng.choice(SHORTENERS)}/{rng.randrange(36**6):06x}"
                    else:
                        host = rng.choice(SITES)
                        url = f"https://{host}{page_path(rng)}"
                    text = rng.choice(LINK_TEMPLATES).format(url=url)
                else:
                    text = rng.choice(MESSAGE_TEMPLATES).format(code=rng.randrange(100_000, 999_999))
            date = mac_nanoseconds(moment)
            with_attachment = rng.random() < 0.006
            if with_attachment:
                guid = upper_uuid(rng)
                name = f"IMG_{rng.randrange(1000, 9999)}.jpeg"
                relative = f"Library/SMS/Attachments/{rng.randrange(256):02x}/{rng.randrange(16):02d}/{guid}/{name}"
                attachments.append(relative)
                attachment_rows.append(
                    (len(attachment_rows) + 1, guid, date // 10**9, f"~/{relative}", name, from_me, rowid)
                )
                text = "\ufffc"
            number, _, _, service = handle_row
            messages.append(
                (
                    rowid,
                    upper_uuid(rng),
                    text,
                    number,
                    service,
                    date,
                    0 if from_me else date + 30 * 10**9,
                    date + 2 * 10**9,
                    from_me,
                    int(not from_me),
                    from_me,
                    int(with_attachment),
                )
            )
            joins.append((number, rowid, date))
        db.executemany(
            "INSERT INTO message (ROWID, guid, text, handle_id, service, date, date_read, date_delivered,"
            " is_from_me, is_read, is_sent, cache_has_attachments, is_delivered, is_finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)",
            messages,
        )
        db.executemany("INSERT INTO chat_message_join VALUES (?, ?, ?)", joins)
        db.executemany(
            "INSERT INTO attachment (ROWID, guid, created_date, filename, uti, mime_type, transfer_state,"
            " is_outgoing, transfer_name) VALUES (?, ?, ?, ?, 'public.jpeg', 'image/jpeg', 5, ?, ?)",
            [(*row[:4], row[5], row[4]) for row in attachment_rows],
        )
        db.executemany(
            "INSERT INTO message_attachment_join VALUES (?, ?)", [(row[6], row[0]) for row in attachment_rows]
        )
        db.executemany(
            "INSERT INTO _SqliteDatabaseProperties VALUES (?, ?)",
            [("_ClientVersion", "17124"), ("counter_in_all", str(SMS_MESSAGES))],
        )

    return fill


def app_catalogue() -> list[tuple[str, str]]:
    """Every app the phone ever had (bundle ID, executable): installed ones first, then uninstalled ones."""
    rng = random.Random(f"{SEED}-apps")
    combos = [(f"com.{vendor}.{product.lower()}", product) for vendor in VENDORS for product in PRODUCTS]
    rng.shuffle(combos)
    return list(KNOWN_APPS) + combos


def fill_datausage(db: sqlite3.Connection) -> None:
    rng = random.Random(f"{SEED}-datausage")
    rows: list[tuple[str, str | None]] = [(name, None) for name in DAEMONS]
    for bundle, executable in app_catalogue():
        rows.append((executable, bundle))
        for extension in EXTENSIONS:
            if rng.random() < 0.6:
                rows.append(
                    (extension, f"{bundle}.{extension.split('.')[-1]}" if "WebKit" not in extension else bundle)
                )
        if len(rows) >= PROCESSES - 1:
            break
    rows = rows[: PROCESSES - 1]
    span = (INJECTION - FILES_START).total_seconds()
    timed: list[tuple[datetime, datetime, str | None, str]] = []
    for process, owner in rows:
        first = FILES_START + timedelta(seconds=rng.uniform(0, span))
        last = first + timedelta(seconds=rng.uniform(0, (BACKUP_DATE - first).total_seconds()))
        timed.append((first, last, owner, process))
    bh_first = INJECTION + timedelta(seconds=8)
    timed.append((bh_first, bh_first + timedelta(minutes=3), None, PEGASUS_PROCESS))
    timed.sort()
    processes = [
        (pk, 10, 1, mac_seconds(first), mac_seconds(last), bundle, name)
        for pk, (first, last, bundle, name) in enumerate(timed, start=1)
    ]
    db.executemany("INSERT INTO ZPROCESS VALUES (?, ?, ?, ?, ?, ?, ?)", processes)
    weights = cumulative(zipf_weights(len(processes), 0.9))
    order = list(range(len(processes)))
    rng.shuffle(order)
    planted = next(i for i, row in enumerate(processes) if row[6] == PEGASUS_PROCESS)
    usage: list[tuple[Any, ...]] = []
    for pk in range(1, LIVE_USAGE + 1):
        index = planted if pk == LIVE_USAGE // 2 else order[rng.choices(range(len(order)), cum_weights=weights)[0]]
        _, _, _, first_seen, last_seen, _, _ = processes[index]
        stamp = rng.uniform(first_seen, last_seen)
        wifi_in, wifi_out = log_uniform(rng, 1_000, 900_000_000), log_uniform(rng, 500, 90_000_000)
        wwan_in, wwan_out = log_uniform(rng, 1, 200_000_000), log_uniform(rng, 1, 20_000_000)
        usage.append((pk, 8, 1, 0, 0, 0, index + 1, None, stamp, wifi_in, wifi_out, wwan_in, wwan_out))
    db.executemany("INSERT INTO ZLIVEUSAGE VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", usage)
    db.executemany(
        "INSERT INTO Z_PRIMARYKEY VALUES (?, ?, 0, ?)",
        [(8, "LiveUsage", len(usage)), (10, "Process", len(processes))],
    )


def make_observations(planted: bool, seed: str) -> Callable[[sqlite3.Connection], None]:
    def fill(db: sqlite3.Connection) -> None:
        rng = random.Random(seed)
        domains = sorted({host.removeprefix("www.") for host in rng.sample(SITES, 60)} | set(TRACKERS))
        if planted:
            domains.append(WEBKIT_DOMAIN)
        db.executemany(
            "INSERT INTO ObservedDomains VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
            [
                (
                    number,
                    domain,
                    (INJECTION + timedelta(seconds=20)).timestamp()
                    if domain == WEBKIT_DOMAIN
                    else (HISTORY_START + timedelta(seconds=rng.uniform(0, 360 * 86400))).timestamp(),
                    int(rng.random() < 0.3),
                )
                for number, domain in enumerate(domains, start=1)
            ],
        )

    return fill


def addaily(rng: random.Random) -> dict[str, Any]:
    names = list(DAEMONS) + [executable for _, executable in KNOWN_APPS] + [ADDAILY_PROCESS]
    day = BACKUP_DATE.replace(tzinfo=None) - timedelta(days=1)
    return {
        "netUsageBaseline": {
            name: [
                day - timedelta(days=rng.randrange(0, 30)),
                float(log_uniform(rng, 1_000, 2_000_000_000)),
                float(log_uniform(rng, 1_000, 200_000_000)),
                float(log_uniform(rng, 1, 900_000_000)),
                float(log_uniform(rng, 1, 90_000_000)),
            ]
            for name in names
        }
    }


def idstatuscache(rng: random.Random) -> dict[str, Any]:
    def handles(count: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for number in range(count):
            handle = f"tel:{phone_number(rng)}" if rng.random() < 0.8 else f"mailto:person{number}@example.org"
            moment = HISTORY_START + timedelta(seconds=rng.uniform(0, 360 * 86400))
            out[handle] = {"LookupDate": mac_seconds(moment), "IDStatus": rng.choice((1, 1, 1, 2))}
        return out

    madrid = handles(350)
    madrid[f"mailto:{PEGASUS_EMAIL}"] = {"LookupDate": mac_seconds(INJECTION - timedelta(days=9)), "IDStatus": 1}
    return {"com.apple.madrid": madrid, "com.apple.ess": handles(120)}


# --------------------------------------------------------------------------------------------------
# The file tree


def containers(rng: random.Random, installed: Sequence[tuple[str, str]]) -> list[Container]:
    out: list[Container] = []
    weights = zipf_weights(len(installed), 0.8)
    for (bundle, _), weight in zip(installed, weights, strict=True):
        webview = bundle in WEBVIEW_APPS or rng.random() < 0.4
        out.append(Container(f"AppDomain-{bundle}", bundle, weight, True, webview))
        if rng.random() < 0.4:
            out.append(Container(f"AppDomainGroup-group.{bundle}", f"group.{bundle}", weight / 3, False, False))
        for extension in rng.sample(EXTENSIONS[:8], rng.choice((0, 0, 1, 1, 2, 3))):
            plugin = f"{bundle}.{extension.removesuffix('Extension')}"
            out.append(Container(f"AppDomainPlugin-{plugin}", plugin, weight / 10, False, False))
    for name in HOME_PREFERENCES[:30]:
        out.append(Container("HomeDomain", name, 0.05, False, False))
    for name in ROOT_PREFERENCES:
        out.append(Container("RootDomain", name, 0.02, False, False))
    return out


def plan_files(rng: random.Random, installed: Sequence[tuple[str, str]], attachments: Sequence[str]) -> Plan:
    plan = Plan()
    for domain, path in real_files():
        plan.add(domain, path, "real")
    for name in HOME_PREFERENCES:
        plan.add("HomeDomain", f"Library/Preferences/{name}.plist", "preferences")
    for name in ROOT_PREFERENCES:
        plan.add("RootDomain", f"Library/Preferences/{name}.plist", "preferences")
    for name in ("com.apple.commcenter", "com.apple.commcenter.callservices", "com.apple.wifi.plist-private"):
        plan.add("WirelessDomain", f"Library/Preferences/{name}.plist", "preferences")
    plan.add("WirelessDomain", "Library/Databases/CellularUsage.db", "cache_db")
    plan.add("WirelessDomain", "Library/Databases/CellularUsage.db-wal", "journal")
    for directory in ("Library/Mail", "Library/Keyboard", "Library/Notes", "Library/Passes/Cards", "Media/Recordings"):
        plan.directory("HomeDomain", directory)
    plan.add("HomeDomain", "Library/Keyboard/fr-dynamic.lm/dynamic-lexicon.dat", "support")
    plan.add("HomeDomain", "Library/Keyboard/en-dynamic.lm/dynamic-lexicon.dat", "support")
    for relative in attachments:
        plan.add("MediaDomain", relative, "attachment")
    number = 1000
    for folder in range(100, 104):
        for _ in range(40):
            number += rng.randint(1, 9)
            name = f"IMG_{number:04d}.HEIC"
            plan.add("CameraRollDomain", f"Media/DCIM/{folder}APPLE/{name}", "photo")
            plan.add(
                "CameraRollDomain", f"Media/PhotoData/Thumbnails/V2/DCIM/{folder}APPLE/{name}/5005.JPG", "thumbnail"
            )
            plan.add(
                "CameraRollDomain", f"Media/PhotoData/Metadata/DCIM/{folder}APPLE/IMG_{number:04d}.AAE", "document"
            )
    plan.directory("CameraRollDomain", "Media/PhotoData/CPLAssets")
    everyone = containers(rng, installed)
    for container in everyone:
        if container.domain.startswith(("AppDomain", "AppDomainGroup", "AppDomainPlugin")):
            plan.add(container.domain, f"Library/Preferences/{container.bundle}.plist", "preferences")
            plan.directory(container.domain, "Library/Caches")
        if container.app:
            app_skeleton(plan, rng, container)
    weights = cumulative([c.weight for c in everyone])
    while plan.entries() < MIN_ENTRIES:
        container = everyone[rng.choices(range(len(everyone)), cum_weights=weights)[0]]
        grow(plan, rng, container)
    return plan


def app_skeleton(plan: Plan, rng: random.Random, app: Container) -> None:
    domain, bundle = app.domain, app.bundle
    for directory in ("Documents", "Library/Application Support", "SystemData"):
        plan.directory(domain, directory)
    plan.add(domain, "Library/Cookies/Cookies.binarycookies", "cookies")
    plan.add(domain, f"Library/Caches/{bundle}/Cache.db", "cache_db")
    plan.add(domain, f"Library/Caches/{bundle}/Cache.db-wal", "journal")
    plan.add(domain, f"Library/Caches/{bundle}/Cache.db-shm", "journal")
    plan.add(domain, f"Library/HTTPStorages/{bundle}/httpstorages.sqlite", "cache_db")
    plan.add(domain, f"Library/HTTPStorages/{bundle}/httpstorages.sqlite-wal", "journal")
    scene = f"Library/SplashBoard/Snapshots/sceneID:{bundle}-default"
    plan.add(domain, f"{scene}/{upper_uuid(rng)}@3x.ktx", "snapshot")
    plan.directory(domain, f"{scene}/downscaled")
    if app.webview:
        plan.directory(domain, "Library/WebKit/WebsiteData/ResourceLoadStatistics")
        for host in rng.sample(SITES, 3):
            plan.add(domain, f"Library/WebKit/WebsiteData/LocalStorage/https_{host}_0.localstorage", "local_storage")
    if bundle == WEBVIEW_APP:
        folder = f"Library/WebKit/WebsiteData/LocalStorage/https_{MANIFEST_FOLDER_HOST}_0.localstorage"
        plan.add(domain, folder, "local_storage")


def grow(plan: Plan, rng: random.Random, container: Container) -> None:
    """Adds one piece of ordinary app data (one to four entries) to a container."""
    domain, bundle = container.domain, container.bundle
    roll = rng.random()
    if container.domain in ("HomeDomain", "RootDomain"):
        if roll < 0.8:
            plan.add(domain, f"Library/Caches/{bundle}/{upper_uuid(rng)}", "cache")
        else:
            plan.add(
                domain, f"Library/Caches/{bundle}/{rng.choice(WORDS)}/{rng.randrange(1 << 32):08x}.plist", "document"
            )
        return
    if container.webview and roll < 0.20:
        record = f"{rng.randrange(1 << 160):040X}"
        base = f"Library/Caches/WebKit/NetworkCache/Version 16/Records/{rng.randrange(1 << 64):016X}"
        plan.add(domain, f"{base}/Resource/{record}", "cache")
        if rng.random() < 0.3:
            plan.add(domain, f"{base}/Resource/{record}-blob", "cache")
        return
    if container.webview and roll < 0.24:
        host = rng.choice(SITES)
        folder = f"Library/WebKit/WebsiteData/IndexedDB/https_{host}_0/{rng.randrange(1 << 64):016x}"
        if plan.add(domain, f"{folder}/IndexedDB.sqlite3", "indexed_db"):
            plan.add(domain, f"{folder}/IndexedDB.sqlite3-wal", "journal")
            plan.add(domain, f"{folder}/IndexedDB.sqlite3-shm", "journal")
        return
    if container.webview and roll < 0.27:
        host = rng.choice(SITES)
        stem = f"Library/WebKit/WebsiteData/LocalStorage/https_{host}_0.localstorage"
        if plan.add(domain, stem, "local_storage"):
            plan.add(domain, f"{stem}-wal", "journal")
        return
    if roll < 0.62:
        plan.add(domain, f"Library/Caches/{bundle}/fsCachedData/{upper_uuid(rng)}", "cache")
    elif roll < 0.72:
        image = f"{rng.randrange(1 << 128):032x}"
        plan.add(domain, f"Library/Caches/com.hackemist.SDImageCache/default/{image}.png", "cache")
    elif roll < 0.84:
        folder = rng.choice(WORDS)
        plan.add(domain, f"Documents/{folder}/{rng.choice(WORDS)}-{rng.randrange(100_000)}.json", "document")
    elif roll < 0.94:
        folder = rng.choice(("Firebase", "com.crashlytics", "Analytics", bundle, "Caches", "Media"))
        plan.add(domain, f"Library/Application Support/{folder}/{upper_uuid(rng)}.dat", "support")
    else:
        plan.add(domain, f"Library/Application Support/{bundle}/{rng.choice(WORDS)}.lock", "journal")


def real_files() -> list[tuple[str, str]]:
    observations = "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db"
    return [
        ("HomeDomain", "Library/Safari/History.db"),
        ("HomeDomain", "Library/SMS/sms.db"),
        ("WirelessDomain", "Library/Databases/DataUsage.sqlite"),
        ("HomeDomain", "Library/Preferences/com.apple.osanalytics.addaily.plist"),
        ("HomeDomain", "Library/Preferences/com.apple.identityservices.idstatuscache.plist"),
    ] + [(f"AppDomain-{bundle}", observations) for bundle in WEBVIEW_APPS]


def content(category: Category, domain: str, path: str, rng: random.Random, block: bytes) -> bytes:
    size = log_uniform(rng, category.low, category.high)
    tag = f"{domain}/{path}\n".encode()
    if category.kind == "plist":
        offset = rng.randrange(BLOCK_SIZE - size)
        value = {
            "Identifier": path,
            "Version": rng.randrange(1, 40),
            "LastModified": FILES_START.replace(tzinfo=None) + timedelta(seconds=rng.randrange(900 * 86400)),
            "Enabled": rng.random() < 0.5,
            "State": block[offset : offset + size],
        }
        return plistlib.dumps(value, fmt=plistlib.FMT_BINARY)
    if category.kind == "sqlite":
        return sqlite_bytes(size, tag, rng, block)
    body = category.magic + tag
    offset = rng.randrange(BLOCK_SIZE - size)
    return body + block[offset : offset + max(size - len(body), 0)]


def sqlite_bytes(size: int, tag: bytes, rng: random.Random, block: bytes) -> bytes:
    """A real SQLite database of about ``size`` bytes (a header-tagged slice where ``serialize`` is missing)."""
    connection = sqlite3.connect(":memory:")
    if not hasattr(connection, "serialize"):  # Python 3.10
        connection.close()
        offset = rng.randrange(BLOCK_SIZE - size)
        return b"SQLite format 3\x00" + tag + block[offset : offset + size]
    connection.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB, modified REAL)")
    rows: list[tuple[int, str, bytes, float]] = []
    total = 0
    while total < size * 0.8:
        length = rng.randrange(200, 3000)
        offset = rng.randrange(BLOCK_SIZE - length)
        rows.append((len(rows) + 1, f"{tag.decode().strip()}#{len(rows)}", block[offset : offset + length], 7e8))
        total += length + 60
    connection.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    data: bytes = connection.serialize()
    connection.close()
    return data


def build_backup(root: Path) -> dict[str, Any]:
    """Writes the whole backup into ``root`` (new) and returns what was written."""
    started = time.perf_counter()
    catalogue = app_catalogue()
    installed = catalogue[:400]
    rng = random.Random(f"{SEED}-files")
    device = Device(installed_applications=tuple(bundle for bundle, _ in installed))
    builder = BackupBuilder(root, device=device, backup_date=BACKUP_DATE)
    attachments: list[str] = []
    builder.add_database("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, fill_safari)
    builder.add_database("HomeDomain", "Library/SMS/sms.db", SMS_DB, make_sms(attachments))
    builder.add_database("WirelessDomain", "Library/Databases/DataUsage.sqlite", DATAUSAGE, fill_datausage)
    builder.add_plist("HomeDomain", "Library/Preferences/com.apple.osanalytics.addaily.plist", addaily(rng))
    builder.add_plist(
        "HomeDomain", "Library/Preferences/com.apple.identityservices.idstatuscache.plist", idstatuscache(rng)
    )
    for bundle in WEBVIEW_APPS:
        builder.add_database(
            f"AppDomain-{bundle}",
            "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db",
            OBSERVATIONS_DB,
            make_observations(bundle == WEBVIEW_APP, f"{SEED}-observations-{bundle}"),
        )
    databases = time.perf_counter() - started
    plan = plan_files(rng, installed, attachments)
    ordinary = [key for key, category in plan.files.items() if category != "real"]
    required = [key for key in ordinary if CATEGORIES[plan.files[key]].required]
    optional = [key for key in ordinary if not CATEGORIES[plan.files[key]].required and plan.files[key] != "journal"]
    wanted = CONTENT_FILES - len(real_files()) - len(required)
    if wanted < 0 or wanted > len(optional):
        raise RuntimeError(f"the plan cannot give content to exactly {CONTENT_FILES} files")
    with_content = dict.fromkeys(required + rng.sample(optional, wanted))
    block = random.Random(f"{SEED}-block").randbytes(BLOCK_SIZE)
    content_bytes = 0
    span = int((BACKUP_DATE - FILES_START).total_seconds())
    for key in ordinary:
        domain, path = key
        modified = FILES_START + timedelta(seconds=rng.randrange(span))
        data = b""
        if key in with_content:
            data = content(CATEGORIES[plan.files[key]], domain, path, rng, block)
            content_bytes += len(data)
        builder.add_file(domain, path, data, modified=modified)
    for domain, path in plan.directories:
        builder.add_listing(domain, path, 2, modified=FILES_START + timedelta(seconds=rng.randrange(span)))
    builder.add_listing("HomeDomain", "Library/Carrier Bundle.bundle", 4)
    builder.add_listing("WirelessDomain", "Library/Preferences/com.apple.carrier.plist", 4)
    builder.finish()
    manifest = sqlite3.connect(f"file:{root / 'Manifest.db'}?mode=ro", uri=True)
    by_flag = dict(manifest.execute("SELECT flags, count(*) FROM Files GROUP BY flags").fetchall())
    manifest.close()
    on_disk = sum(entry.stat().st_size for entry in root.rglob("*") if entry.is_file())
    return {
        "backup_version": BACKUP_VERSION,
        "seed": SEED,
        "generation_seconds": round(time.perf_counter() - started, 1),
        "database_seconds": round(databases, 1),
        "manifest_entries": sum(by_flag.values()),
        "files": by_flag.get(1, 0),
        "directories": by_flag.get(2, 0),
        "symlinks": by_flag.get(4, 0),
        "files_with_content": len(with_content) + len(real_files()),
        "content_bytes": content_bytes,
        "bytes_on_disk": on_disk,
        "installed_apps": len(installed),
    }


def cached_backup(workdir: Path, rebuild: bool) -> tuple[Path, dict[str, Any], bool]:
    """The backup of this BACKUP_VERSION, built now unless a complete copy is cached."""
    root = workdir / f"backup-v{BACKUP_VERSION}"
    facts = workdir / f"backup-v{BACKUP_VERSION}.json"
    if root.is_dir() and facts.is_file() and not rebuild:
        return root, json.loads(facts.read_text()), True
    for stale in workdir.glob("backup-v*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    staging = workdir / f"backup-v{BACKUP_VERSION}.partial"
    print(f"Generating the backup (version {BACKUP_VERSION}, seed {SEED}) in {root} ...", flush=True)
    stats = build_backup(staging)
    staging.rename(root)
    facts.write_text(json.dumps(stats, indent=2) + "\n")
    return root, stats, False


# --------------------------------------------------------------------------------------------------
# Running the tools


@dataclass(frozen=True)
class Run:
    tool: str
    wall_seconds: float
    peak_mib: float | None  # only for a sampled run
    exit_code: int
    output: Path
    log: Path


class ToolFailedError(RuntimeError):
    pass


def install_mvt(workdir: Path) -> tuple[Path, str, bool]:
    """The mvt-ios of a virtual environment in the work folder (created once); its version; whether reused."""
    venv = workdir / "mvt-venv"
    mvt_ios = venv / "bin" / "mvt-ios"
    reused = mvt_ios.is_file()
    if not reused:
        print(f"Installing the latest mvt from PyPI into {venv} ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        log = workdir / "mvt-install.log"
        with log.open("wb") as sink:
            result = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--upgrade", "mvt"], stdout=sink, stderr=sink
            )
        if result.returncode != 0 or not mvt_ios.is_file():
            shutil.rmtree(venv, ignore_errors=True)
            raise ToolFailedError(f"pip install mvt failed (exit {result.returncode}); see {log}")
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('mvt'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return mvt_ios, version, reused


def warm(root: Path) -> tuple[int, float]:
    """Reads every file of the backup once (like ``cat``), so that both tools start with a warm page cache."""
    started = time.perf_counter()
    buffer = bytearray(1 << 20)
    total = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb", buffering=0) as stream:
                while count := stream.readinto(buffer):
                    total += count
    return total, time.perf_counter() - started


def measure(tool: str, command: list[str], env: dict[str, str], output: Path, log: Path, sampled: bool) -> Run:
    """Runs one command; wall time around it. When ``sampled``, peak memory is the largest sum of PSS
    over the process and its worker processes, read every 50 ms (vestige forks workers; MVT runs in
    one process). Reading /proc costs CPU that a tool using every core would otherwise have, so timed
    runs are not sampled and memory comes from a separate run of each tool."""
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
        sampler = PeakSampler(child.pid) if sampled else None
        _, status, usage = os.wait4(child.pid, 0)
        peak = sampler.stop() if sampler is not None else 0
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return Run(tool, wall, max(peak, usage.ru_maxrss) / 1024 if sampled else None, child.returncode, output, log)


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def vestige_findings(output: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((output / "findings.json").read_text())
    return loaded


def mvt_alerts(output: Path) -> list[dict[str, Any]]:
    alerts_file = output / "alerts.json"
    if alerts_file.is_file():
        alerts: list[dict[str, Any]] = json.loads(alerts_file.read_text())
        return alerts
    found: list[dict[str, Any]] = []
    for detected in sorted(output.glob("*_detected.json")):
        found.extend(json.loads(detected.read_text()))
    return found


def mvt_log_summary(output: Path) -> tuple[list[str], list[str]]:
    """From MVT's command.log: its warnings and errors (deduplicated), and the modules that found nothing to read."""
    log = output / "command.log"
    if not log.is_file():
        return [], []
    seen: dict[str, int] = {}
    skipped: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        fields = line.split(" - ", 3)
        level, message = (fields[2], fields[3]) if len(fields) == 4 else ("", line)
        if level in ("WARNING", "ERROR") or "Traceback" in line:
            seen[message[:150]] = seen.get(message[:150], 0) + 1
        elif "There might be no data to extract by module" in message:
            skipped.append(message.split("by module ", 1)[1].split(":", 1)[0])
    return [f"{count} x {message}" for message, count in seen.items()], skipped


def _peak(run: Run) -> str:
    return "" if run.peak_mib is None else f", {run.peak_mib:.0f} MiB"


def pick(runs: Sequence[Run], metric: Callable[[Run], float]) -> float:
    values = [metric(run) for run in runs]
    return min(values) if len(values) < 3 else statistics.median(values)


def vestige_hit(findings: dict[str, Any], plant: Plant) -> bool:
    return any(
        finding["rule"] == plant.vestige_rule
        and any(str(i.get("value", "")).lower() == plant.value.lower() for i in finding.get("indicators", []))
        for finding in findings["findings"]
    )


def mvt_hit(alerts: Sequence[dict[str, Any]], plant: Plant) -> bool:
    return any(
        alert.get("module") == plant.mvt_module
        and str((alert.get("matched_indicator") or {}).get("value", "")).lower() == plant.value.lower()
        for alert in alerts
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vestige-bench-ios",
        help="where the backup, MVT's virtual environment and the outputs live (default: %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep both tools' output folders (default: delete them)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each tool (2: best of two; 3 or more: median)")
    parser.add_argument("--rebuild", action="store_true", help="generate the backup again even if it is cached")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    backup, stats, cached = cached_backup(workdir, args.rebuild)
    print(
        f"Backup: {backup} ({'cached' if cached else 'generated now'}; generation took"
        f" {stats['generation_seconds']} s)\n"
        f"  {stats['manifest_entries']:,} Manifest.db entries: {stats['files']:,} files"
        f" ({stats['files_with_content']:,} with content), {stats['directories']:,} directories,"
        f" {stats['symlinks']} symlinks; {stats['bytes_on_disk'] / 2**30:.2f} GiB on disk",
        flush=True,
    )
    mvt_ios, mvt_version, reused = install_mvt(workdir)
    print(f"MVT {mvt_version} in {mvt_ios.parent.parent} ({'reused' if reused else 'installed now'})", flush=True)
    total, seconds = warm(backup)
    print(f"Warm-up read: {total / 2**30:.2f} GiB in {seconds:.1f} s", flush=True)

    iocs = stix_files()
    outputs = workdir / "outputs"
    shutil.rmtree(outputs, ignore_errors=True)
    outputs.mkdir()
    src = str(Path(vestige.__file__).resolve().parent.parent)
    vestige_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    mvt_env = {
        **os.environ,
        "MVT_NETWORK_ACCESS_ALLOWED": "false",
        "MVT_DATA_FOLDER": str(workdir / "mvt-data"),
        "MVT_CONFIG_FOLDER": str(workdir / "mvt-config"),
    }
    runs: dict[str, list[Run]] = {"vestige": [], "mvt": []}
    memory: dict[str, Run] = {}
    failures: list[str] = []
    vestige_command = [sys.executable, "-m", "vestige", "check", str(backup), "-q", "-o"]
    mvt_command = [str(mvt_ios), "--disable-update-check", "--disable-indicator-update-check", "check-backup", "-H"]
    for path in iocs:
        mvt_command += ["--iocs", str(path)]
    for number in [*range(1, args.runs + 1), 0]:  # 0: the run sampled for memory
        sampled = number == 0
        label = "memory run" if sampled else f"run {number}"
        name = "memory" if sampled else str(number)
        out = outputs / f"vestige-{name}"
        os.sync()
        run = measure(
            "vestige", [*vestige_command, str(out)], vestige_env, out, outputs / f"vestige-{name}.log", sampled
        )
        print(f"  vestige {label}: {run.wall_seconds:.1f} s{_peak(run)}, exit {run.exit_code}", flush=True)
        if run.exit_code not in (0, 3) or not (out / "findings.json").is_file():
            raise ToolFailedError(f"vestige failed (exit {run.exit_code}):\n{tail(run.log)}")
        if sampled:
            memory["vestige"] = run
        else:
            runs["vestige"].append(run)
        out = outputs / f"mvt-{name}"
        os.sync()
        run = measure(
            "mvt", [*mvt_command, "-o", str(out), str(backup)], mvt_env, out, outputs / f"mvt-{name}.log", sampled
        )
        print(f"  MVT {label}: {run.wall_seconds:.1f} s{_peak(run)}, exit {run.exit_code}", flush=True)
        if run.exit_code != 0:
            raise ToolFailedError(f"MVT failed (exit {run.exit_code}):\n{tail(run.log)}")
        if sampled:
            memory["mvt"] = run
        else:
            runs["mvt"].append(run)

    statistic = "best of" if args.runs < 3 else "median of"
    v_time, m_time = (pick(runs[t], lambda r: r.wall_seconds) for t in ("vestige", "mvt"))
    v_peak, m_peak = (memory[t].peak_mib or 0.0 for t in ("vestige", "mvt"))
    time_ratio, memory_ratio = m_time / v_time, v_peak / m_peak
    print()
    print(
        f"vestige {vestige.__version__} vs MVT {mvt_version}: time {statistic} {args.runs} runs each, memory from one"
        " more run each sampled every 50 ms; warm page cache"
    )
    print(f"{'':20}{'vestige':>10}{'MVT':>10}   {'ratio':<22}{'target':<10}met")
    print(
        f"{'wall time (s)':20}{v_time:>10.2f}{m_time:>10.2f}   {f'MVT/vestige {time_ratio:.2f}x':<22}"
        f"{f'>= {TIME_TARGET:g}x':<10}{'yes' if time_ratio >= TIME_TARGET else 'no'}"
    )
    print(
        f"{'peak memory (MiB)':20}{v_peak:>10.1f}{m_peak:>10.1f}   {f'vestige/MVT {memory_ratio:.3f}':<22}"
        f"{f'<= {MEMORY_TARGET:g}':<10}{'yes' if memory_ratio <= MEMORY_TARGET else 'no'}"
    )
    print(
        f"Indicators: vestige used all its bundled sets; MVT reads STIX only and was given the {len(iocs)}"
        " bundled *.stix2 files (not the plain domain list nor the stalkerware YAML)."
    )

    findings = vestige_findings(runs["vestige"][0].output)
    alerts = mvt_alerts(runs["mvt"][0].output)
    counts = findings["summary"]["findings"]
    mvt_levels: dict[str, int] = {}
    for alert in alerts:
        mvt_levels[str(alert.get("level"))] = mvt_levels.get(str(alert.get("level")), 0) + 1
    print()
    print("Sanity check (first run of each):")
    print(
        f"  vestige findings: {counts.get('critical', 0)} critical, {counts.get('high', 0)} high"
        f" (all: {json.dumps(counts, sort_keys=True)}); complete: {findings['summary']['complete']}"
    )
    print(
        f"  MVT alerts: {mvt_levels.get('CRITICAL', 0)} critical, {mvt_levels.get('HIGH', 0)} high"
        f" (all: {json.dumps(mvt_levels, sort_keys=True)})"
    )
    print(f"  {'planted trace':<56}{'vestige':<9}MVT")
    for plant in PLANTS:
        in_vestige, in_mvt = vestige_hit(findings, plant), mvt_hit(alerts, plant)
        print(f"  {plant.what:<56}{'found' if in_vestige else 'MISSED':<9}{'found' if in_mvt else 'MISSED'}")
        if not in_vestige:
            failures.append(f"vestige missed the planted trace: {plant.what}")
        if not in_mvt:
            failures.append(f"MVT missed the planted trace: {plant.what}")
    for problem in findings.get("problems", []):
        failures.append(f"vestige reported a problem: {json.dumps(problem, ensure_ascii=False)}")
    for run in runs["vestige"]:
        if run.exit_code != 0:
            failures.append(f"vestige exited {run.exit_code} (incomplete analysis) in {run.output}")
    logged, skipped = mvt_log_summary(runs["mvt"][0].output)
    if skipped:
        print(f"  MVT modules that found no database to read ({len(skipped)}): {', '.join(skipped)}")
    if logged:
        print(f"  MVT logged {len(logged)} distinct warnings or errors:")
        for line in logged[:15]:
            print(f"    {line}")
    if not args.keep:
        shutil.rmtree(outputs, ignore_errors=True)
    else:
        print(f"Outputs kept in {outputs}")
    if failures:
        print("\nFAILED:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
