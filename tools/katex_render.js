// Render TeX with KaTeX, for tools/docs.py (server-side maths: the pages need no JavaScript to show formulas).
// Usage: node katex_render.js PATH_TO_KATEX_PACKAGE < pages.json > rendered.json
// In: {"page.html": [[tex, display], ...], ...}. Out: the same shape, each formula {"html": ...} or {"error": ...}.
// Macros defined with \newcommand or \def last to the end of their page, as in MathJax and KaTeX's auto-render.
const katex = require(process.argv[2]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const pages = JSON.parse(input), out = {};
  for (const [page, formulas] of Object.entries(pages)) {
    const macros = {};
    out[page] = formulas.map(([tex, display]) => {
      try {
        return { html: katex.renderToString(tex, { displayMode: display, throwOnError: true, macros, strict: "ignore", globalGroup: true }) };
      } catch (e) {
        return { error: String(e && e.message ? e.message : e) };
      }
    });
  }
  process.stdout.write(JSON.stringify(out));
});
