#!/usr/bin/env node
// telechat-data: not built yet; it arrives with [DATA] (issue 3).
process.stderr.write('telechat-data is not available yet: it arrives with [DATA] (issue 3)\n');
process.exit(1);
