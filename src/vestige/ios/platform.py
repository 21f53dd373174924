"""The iOS platform as the registry sees it: the backup kind, its artifacts and correlators."""

from __future__ import annotations

from vestige.ios.acquisitions import BACKUP_DESCRIPTION, IOS_BACKUP, IosBackup, recognise_backup
from vestige.ios.artifacts import ARTIFACTS
from vestige.ios.correlations import CORRELATORS
from vestige.platforms import AcquisitionKind, Platform

PLATFORM = Platform(
    name="ios",
    kinds=(AcquisitionKind(IOS_BACKUP, BACKUP_DESCRIPTION, recognise_backup, IosBackup),),
    artifacts=ARTIFACTS,
    correlators=CORRELATORS,
)
