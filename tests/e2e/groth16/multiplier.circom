pragma circom 2.0.0;

// Knows a and b with a * b = c (c public), and a != 1, b != 1 so c's factors are non-trivial.
template Multiplier() {
    signal input a;
    signal input b;
    signal output c;
    signal inva;
    signal invb;
    inva <-- 1 / (a - 1);
    (a - 1) * inva === 1;
    invb <-- 1 / (b - 1);
    (b - 1) * invb === 1;
    c <== a * b;
}

component main = Multiplier();
