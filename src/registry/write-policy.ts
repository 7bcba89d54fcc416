import { RegistryError } from '../errors/index.js';

/** The registry-wide switches that refuse changes (storage.readonly, storage.delete.enabled). */
export class WritePolicy {
  constructor(private readonly options: { readOnly: boolean; deleteEnabled: boolean }) {}

  assertWritable(): void {
    if (this.options.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
  }

  assertDeletable(): void {
    this.assertWritable();
    if (!this.options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled (storage.delete.enabled is false)');
  }
}
