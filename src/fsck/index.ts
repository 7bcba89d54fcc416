export { Fsck, quarantinePath, QUARANTINE_ROOT, type Finding, type FindingKind, type FsckOptions, type FsckProgress, type FsckReport, type RepairAction } from './checker.js';
