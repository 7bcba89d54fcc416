export { runBackup, listGenerations, type BackupOptions, type BackupSummary, type ProgressSink, type SourceFile } from './backup.js';
export { runRestore, type RestoreOptions, type RestoreSummary } from './restore.js';
export { sqliteSource, sqliteTarget, postgresSource, postgresTarget, type DatabaseSource, type DatabaseTarget } from './database.js';
export { MARKER, MANIFEST, backupBlobPath, readManifest, type BackupManifest, type BackupFile, type BackupBlob } from './layout.js';
