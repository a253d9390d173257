// The npm peer: node-fpgrowth (FP-growth in JavaScript) on one data set at one support.
// Usage: node fpgrowth_peer.js <file> <text|int> <min_support> <reps>
// Prints "<median ms> <itemsets>": mining time only (the baskets are already in memory).
'use strict';
const fs = require('fs');
const { FPGrowth } = require('node-fpgrowth');

const [file, kind, support, reps] = process.argv.slice(2);
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
const baskets = lines.map((l) => {
  const items = kind === 'text' ? l.split('\t') : l.trim().split(/ +/).map(Number);
  return [...new Set(items)];
});

(async () => {
  const times = [];
  let count = 0;
  for (let r = 0; r < Number(reps); r++) {
    const t0 = process.hrtime.bigint();
    const itemsets = await new FPGrowth(Number(support)).exec(baskets);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    count = itemsets.length;
  }
  times.sort((a, b) => a - b);
  console.log(`${times[Math.floor(times.length / 2)].toFixed(1)} ${count}`);
})();
