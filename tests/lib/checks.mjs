// tests/lib/checks.mjs — the checks of the node test programs
// (tests/browser/browser_test.mjs, tests/openapi/check_document.mjs): one
// line a check, counted, as tests/lib/stack.sh's ok/not_ok print them.
//
//   const checks = makeChecks('FAIL');   // the word of a failed check
//   checks.check(cond, desc, detail)     // `ok - desc` or `FAIL - desc: detail`;
//                                        // returns cond
//   checks.counts()                      // "N passed, N failed"
//   checks.failed                        // the failures so far

export function makeChecks(failWord = 'not ok') {
  const c = { passed: 0, failed: 0 };
  c.check = (cond, desc, detail) => {
    if (cond) {
      c.passed++;
      console.log(`ok - ${desc}`);
    } else {
      c.failed++;
      const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
      console.log(`${failWord} - ${desc}${detail === undefined || detail === '' ? '' : `: ${text}`}`);
    }
    return cond;
  };
  c.counts = () => `${c.passed} passed, ${c.failed} failed`;
  return c;
}
