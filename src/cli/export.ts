#!/usr/bin/env node
// telechat-export: not built yet; it arrives with [CKPT] (issue 7).
process.stderr.write('telechat-export is not available yet: it arrives with [CKPT] (issue 7)\n');
process.exit(1);
