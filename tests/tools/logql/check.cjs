// Parses LogQL with Grafana's grammar (@grafana/lezer-logql, the parser of Grafana's Loki
// query editor). Input: a JSON list of queries on stdin. Output: a JSON list, one entry per
// query: null when it parses, else {from, to, near} of the first error node, and the
// top-level node names so a caller can tell a metric query from a log query.
const { parser } = require('@grafana/lezer-logql');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((q) => {
    const tree = parser.parse(q);
    let error = null;
    tree.iterate({ enter: (n) => { if (n.type.isError && error === null) error = { from: n.from, to: n.to }; } });
    const top = [];
    const cursor = tree.cursor();
    if (cursor.firstChild()) { top.push(cursor.name); if (cursor.firstChild()) top.push(cursor.name); }
    return { error: error && { ...error, near: q.slice(Math.max(0, error.from - 15), error.to + 15) }, top };
  });
  process.stdout.write(JSON.stringify(out));
});
