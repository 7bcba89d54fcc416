export { JobScheduler, type JobSchedulerOptions, type JobLogger } from './scheduler.js';
