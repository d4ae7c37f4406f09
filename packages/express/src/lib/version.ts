/**
 * This package's version (its package.json's, which test/package-versions.test.ts holds it to): the
 * instrumentation version of its tracer. A constant, not a read of ../../package.json at run time,
 * so that an application bundled into one file (where no package.json sits beside the code) loads.
 */
export const VERSION = '0.1.0';
