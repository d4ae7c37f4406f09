export { run, mainHelp } from './run.js';
