/**
 * Preloaded into an adapter worker process (`node --import`): its clock runs
 * MEDREC_TEST_CLOCK_SKEW_MS off the real one, as on a machine whose clock is not synchronised.
 */
const skewMs = Number(process.env.MEDREC_TEST_CLOCK_SKEW_MS ?? 0);
const realNow = Date.now;
Date.now = () => realNow() + skewMs;
