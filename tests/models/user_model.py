"""A user's streaming CNN in plain PyTorch, as `soi-mcu run tests/models/user_model.py:build` takes it."""

from torch import nn

from soi_mcu.model.from_torch import RepeatFrames, TimeShift


def causal_conv(cin: int, cout: int, kt: int = 3, kf: int = 3, dilation: int = 1, stride: tuple = (1, 1)) -> list:
    return [nn.ZeroPad2d((kf // 2, kf // 2, (kt - 1) * dilation, 0)),
            nn.Conv2d(cin, cout, (kt, kf), stride=stride, dilation=(dilation, 1), padding=(0, 0))]


def build() -> nn.Sequential:
    return nn.Sequential(
        *causal_conv(1, 8), nn.BatchNorm2d(8), nn.ReLU(),
        *causal_conv(8, 12, stride=(2, 1)), nn.ReLU(),  # S-CC: compress to half rate
        nn.Sequential(*causal_conv(12, 12, dilation=2), nn.BatchNorm2d(12), nn.ReLU6()),
        RepeatFrames(2),  # S-CC: restore the rate
        TimeShift(1),  # SS-CC: what follows sees only the past
        *causal_conv(12, 8), nn.ReLU(),
        nn.Dropout(0.1),
        *causal_conv(8, 1, kt=1, kf=1),
    )


def build_rnn() -> nn.Sequential:
    """A layer the importer refuses (a plain nn.RNN: LSTM and GRU are supported, it is not)."""
    return nn.Sequential(*causal_conv(1, 4), nn.ReLU(), nn.RNN(4, 4))


def build_lookahead() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
