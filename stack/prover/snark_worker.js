'use strict';
// Long-lived snarkjs worker of the x402.runbook reference prover.
//
// Protocol: one JSON object per line on stdin, one JSON answer per line on stdout,
// answered in order. The proving key, circuit wasm and verification key are read
// once at start-up (paths in argv), so a proof costs only witness + prove time;
// a fresh `snarkjs groth16 fullprove` process per proof pays node start-up and
// curve set-up every time (see stack/README.md for the numbers).
//
//   {"id": 1, "op": "prove", "input": {...}}
//     -> {"id": 1, "ok": true, "proof": {...}, "publicSignals": [...], "witnessMs": n, "proveMs": n}
//   {"id": 2, "op": "verify", "proof": {...}, "publicSignals": [...]}
//     -> {"id": 2, "ok": true, "valid": true|false, "verifyMs": n}
//   {"id": 3, "op": "ping"} -> {"id": 3, "ok": true}
// Failures answer {"id": n, "ok": false, "error": "..."}; the worker keeps running.
//
// Usage: node snark_worker.js CIRCUIT.wasm PROVING.zkey VERIFICATION_KEY.json
// snarkjs is resolved through NODE_PATH (the service sets it).

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');
const snarkjs = require('snarkjs');
const {WitnessCalculatorBuilder} = require('circom_runtime');

// stdout carries the protocol only: the witness calculator and snarkjs print
// with console.log (circuit log() calls, assert messages), so send all of that
// to stderr, which the service logs.
const out = process.stdout.write.bind(process.stdout);
for (const level of ['log', 'info', 'warn', 'debug', 'error']) {
    console[level] = (...args) => process.stderr.write(util.format(...args) + '\n');
}

const [wasmPath, zkeyPath, vkeyPath] = process.argv.slice(2);
if (!wasmPath || !zkeyPath || !vkeyPath) {
    process.stderr.write('usage: snark_worker.js CIRCUIT.wasm PROVING.zkey VERIFICATION_KEY.json\n');
    process.exit(2);
}

// The circuit's wasm is compiled once (snarkjs.wtns.calculate would compile it
// for every proof: ~100 ms of a ~500 ms proof).
const witnessCalculator = WitnessCalculatorBuilder(fs.readFileSync(wasmPath));
const zkey = {type: 'mem', data: new Uint8Array(fs.readFileSync(zkeyPath))};
const vkey = JSON.parse(fs.readFileSync(vkeyPath, 'utf8'));
// snarkjs logs nothing unless given a logger; keep stdout for answers only.
const logger = null;

function now() {
    return Number(process.hrtime.bigint()) / 1e6;
}

async function handle(msg) {
    switch (msg.op) {
    case 'ping':
        return {};
    case 'prove': {
        const t0 = now();
        const calculator = await witnessCalculator;
        const wtns = {type: 'mem', data: await calculator.calculateWTNSBin(msg.input, true)};
        const t1 = now();
        const {proof, publicSignals} = await snarkjs.groth16.prove(zkey, wtns, logger);
        const t2 = now();
        return {proof, publicSignals, witnessMs: t1 - t0, proveMs: t2 - t1};
    }
    case 'verify': {
        const t0 = now();
        let valid;
        try {
            valid = await snarkjs.groth16.verify(vkey, msg.publicSignals, msg.proof, logger);
        } catch (err) {
            // Malformed points or signals: not a valid proof, not a worker failure.
            valid = false;
        }
        return {valid: valid === true, verifyMs: now() - t0};
    }
    default:
        throw new Error('unknown op ' + JSON.stringify(msg.op));
    }
}

function reply(obj) {
    out(JSON.stringify(obj) + '\n');
}

// Requests are served one at a time: snarkjs already spreads one proof over the
// CPU's threads, and answering in order keeps the protocol trivial.
let chain = null;  // set below, after the warm-up
const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
rl.on('line', (line) => {
    if (!line.trim()) {
        return;
    }
    chain = chain.then(async () => {
        let msg;
        try {
            msg = JSON.parse(line);
        } catch (err) {
            reply({id: null, ok: false, error: 'bad JSON: ' + err.message});
            return;
        }
        try {
            reply(Object.assign({id: msg.id, ok: true}, await handle(msg)));
        } catch (err) {
            reply({id: msg.id, ok: false, error: String(err && err.message ? err.message : err)});
        }
    });
});
rl.on('close', () => {
    chain.then(() => process.exit(0));
});
// snarkjs' package.json is not in its `exports`: read it beside the entry point.
const snarkjsVersion = JSON.parse(fs.readFileSync(
    path.join(path.dirname(require.resolve('snarkjs')), '..', 'package.json'), 'utf8')).version;
// Warm up before announcing readiness: the first proof builds the curve and the
// thread pool (~1.5 s); afterwards a proof of this circuit takes ~0.5 s.
const WARM_UP_INPUT = {
    minAmount: '1', recipientKeyX: '0', recipientKeyY: '0', maxBlockAge: '1', currentTime: '1',
    actualAmount: '1', senderKeyX: '0', senderKeyY: '0', paymentTime: '1',
    signatureR8x: '0', signatureR8y: '0', signatureS: '0',
};

async function warmUp() {
    const t0 = now();
    const {proof, publicSignals} = await handle({op: 'prove', input: WARM_UP_INPUT});
    const {valid} = await handle({op: 'verify', proof, publicSignals});
    if (!valid) {
        throw new Error('the warm-up proof does not verify: proving and verification keys do not match');
    }
    return now() - t0;
}

const ready = warmUp();
chain = ready.then(() => undefined, () => undefined);
ready.then((warmUpMs) => reply({id: 0, ok: true, ready: true, snarkjs: snarkjsVersion, node: process.version,
    warmUpMs: Math.round(warmUpMs)}),
(err) => {
    process.stderr.write('cannot load the circuit: ' + err.message + '\n');
    process.exit(1);
});
