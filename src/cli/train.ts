#!/usr/bin/env node
// telechat-train: not built yet; it arrives with [TRAIN] (issue 4).
process.stderr.write('telechat-train is not available yet: it arrives with [TRAIN] (issue 4)\n');
process.exit(1);
