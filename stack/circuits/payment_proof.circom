pragma circom 2.1.0;

// x402 payment proof of the x402.runbook reference stack.
//
// Proves, without revealing the payment, that the prover knows a payment that
//   - paid at least `minAmount`                      (actualAmount >= minAmount),
//   - happened no later than `currentTime`           (paymentTime <= currentTime),
//   - is recent enough                               (currentTime - paymentTime <= maxBlockAge),
// and publishes a Poseidon commitment to all private inputs, so that the same
// payment cannot be presented with different hidden values.
//
// Public signals as snarkjs orders them (outputs first, then public inputs):
//   [commitment, minAmount, recipientKeyX, recipientKeyY, maxBlockAge, currentTime]
//
// The real system's circuit also verifies the sender's EdDSA signature over the
// payment; this reference only binds the signature fields into the commitment
// (see stack/README.md, "Where the reference differs from the real system").

include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";

template PaymentProof(nBits) {
    // public inputs
    signal input minAmount;
    signal input recipientKeyX;
    signal input recipientKeyY;
    signal input maxBlockAge;
    signal input currentTime;

    // private inputs
    signal input actualAmount;
    signal input senderKeyX;
    signal input senderKeyY;
    signal input paymentTime;
    signal input signatureR8x;
    signal input signatureR8y;
    signal input signatureS;

    // public output
    signal output commitment;

    // Range checks: the comparators are only sound for values below 2^nBits.
    component bits[5];
    bits[0] = Num2Bits(nBits); bits[0].in <== minAmount;
    bits[1] = Num2Bits(nBits); bits[1].in <== actualAmount;
    bits[2] = Num2Bits(nBits); bits[2].in <== maxBlockAge;
    bits[3] = Num2Bits(nBits); bits[3].in <== currentTime;
    bits[4] = Num2Bits(nBits); bits[4].in <== paymentTime;

    // actualAmount >= minAmount
    component enough = GreaterEqThan(nBits);
    enough.in[0] <== actualAmount;
    enough.in[1] <== minAmount;
    enough.out === 1;

    // paymentTime <= currentTime
    component notFuture = LessEqThan(nBits);
    notFuture.in[0] <== paymentTime;
    notFuture.in[1] <== currentTime;
    notFuture.out === 1;

    // currentTime - paymentTime <= maxBlockAge (no underflow: checked just above)
    component recent = LessEqThan(nBits);
    recent.in[0] <== currentTime - paymentTime;
    recent.in[1] <== maxBlockAge;
    recent.out === 1;

    // recipientKeyX/Y take part in no constraint: Groth16 binds every public
    // input through the verification key, so a proof is valid only for the
    // recipient it was made for.

    component hash = Poseidon(7);
    hash.inputs[0] <== actualAmount;
    hash.inputs[1] <== senderKeyX;
    hash.inputs[2] <== senderKeyY;
    hash.inputs[3] <== paymentTime;
    hash.inputs[4] <== signatureR8x;
    hash.inputs[5] <== signatureR8y;
    hash.inputs[6] <== signatureS;
    commitment <== hash.out;
}

component main {public [minAmount, recipientKeyX, recipientKeyY, maxBlockAge, currentTime]} = PaymentProof(64);
