#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with the pinned solcjs and writes one artifact per
// contract to contracts/out/<Name>.json ({contractName, sourceName, abi, bytecode,
// deployedBytecode, compiler}). Artifacts are committed so Python users need no Node.
// `--check` compiles in memory and exits 1 if any committed artifact differs.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = path.resolve(__dirname, '..');
const srcDir = path.join(root, 'contracts', 'src');
const outDir = path.join(root, 'contracts', 'out');
const check = process.argv.includes('--check');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.sol') ? [p] : [];
  });
}

function findImport(importPath) {
  for (const base of [srcDir, path.join(root, 'node_modules'), root]) {
    const p = path.join(base, importPath);
    if (fs.existsSync(p)) return { contents: fs.readFileSync(p, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}

const sources = {};
for (const file of walk(srcDir).sort()) {
  sources[path.relative(srcDir, file)] = { content: fs.readFileSync(file, 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: 'osaka', // the default fork of the node, solc 0.8.37 and Foundry 1.7.1
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}

let drift = 0;
if (!check) fs.mkdirSync(outDir, { recursive: true });
for (const [sourceName, contracts] of Object.entries(output.contracts)) {
  if (!(sourceName in sources)) continue; // imported libraries get no artifact of their own
  for (const [name, c] of Object.entries(contracts)) {
    const artifact = {
      contractName: name,
      sourceName,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + '\n';
    const target = path.join(outDir, `${name}.json`);
    if (check) {
      const old = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : null;
      if (old !== text) {
        console.error(`artifact out of date: contracts/out/${name}.json`);
        drift += 1;
      }
    } else {
      fs.writeFileSync(target, text);
    }
  }
}
if (check && drift) process.exit(1);
console.log(check ? 'artifacts match sources' : `wrote ${Object.keys(output.contracts).length} source(s)`);
