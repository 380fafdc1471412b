#!/usr/bin/env node
// telechat-launch: not built yet; it arrives with [DIST] (issue 5).
process.stderr.write('telechat-launch is not available yet: it arrives with [DIST] (issue 5)\n');
process.exit(1);
