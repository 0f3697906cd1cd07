// Compare versions with node-semver, npm's own implementation.
// Usage: node semver_oracle.js <path to the semver package>
// Reads "A<TAB>B" lines on stdin; writes -1, 0, 1 (or "error") per line.
const semver = require(process.argv[2]);
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l.length);
const out = lines.map((l) => {
  const [a, b] = l.split("\t");
  if (!semver.valid(a) || !semver.valid(b)) return "error";
  return String(semver.compare(a, b));
});
process.stdout.write(out.join("\n") + "\n");
