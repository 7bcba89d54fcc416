import { runDriverSuite } from '../driver-suite.js';
import { InMemoryDriver } from './inmemory.js';

runDriverSuite({ name: 'inmemory', create: async () => new InMemoryDriver() });
