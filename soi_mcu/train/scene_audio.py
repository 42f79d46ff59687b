"""Synthetic acoustic scenes for the streaming scene classifier: seeded clips of eight classes.

Everything is generated (numpy, seeded), so it runs on a fresh machine without downloads or espeak-ng.
Eight scene classes, each a mixture of sources with random parameters (levels, pitches, rates,
spectral tilts, event times), so that no single fixed feature separates them:

    quiet_room  brown/pink air noise, a faint ventilation hum
    street      low rumble with passing vehicles (band-limited noise swells), now and then a horn
    cafe        babble of 4-8 synthetic talkers (voiced harmonics through moving formants), cup clinks
    office      keyboard clicks in bursts, ventilation (low-passed noise), sometimes one talker
    rain        high-passed noise and dense small drops
    park        bird chirps (fast frequency sweeps, 2-7 kHz) over gusty wind (low-passed, modulated)
    metro       low rumble with rail clacks at a steady rhythm, sometimes a wheel screech
    alarm       a beeping harmonic tone (0.8-3 kHz, 2-6 beeps/s) over pink noise

Every clip also gets a background shared by all classes (coloured noise, a hum, distant babble or a
noise band) at a scene-to-background ratio of 5..20 dB, and is scaled to a random level (-40..-20
dBFS), so neither the background nor the overall level says anything about the class.
"""

from __future__ import annotations

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.train.speech_data import coloured_noise

SCENES = ("quiet_room", "street", "cafe", "office", "rain", "park", "metro", "alarm")
SAMPLE_RATE = 16000
BACKGROUND_SNR_DB = (5.0, 20.0)  # scene to shared background


# ---- sources ----

def _band(x: np.ndarray, lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Ideal band-pass by FFT (lo..hi Hz), renormalized to unit std."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    y = np.fft.irfft(spec, n=len(x))
    return y / (y.std() + 1e-9)


def _smooth_env(rng: np.random.Generator, n: int, rate_hz: float, depth: float) -> np.ndarray:
    """A slowly varying positive envelope (random points every 1/rate_hz s, interpolated)."""
    points = max(int(n / SAMPLE_RATE * rate_hz) + 2, 2)
    knots = 1 + depth * (rng.random(points) * 2 - 1)
    return np.interp(np.arange(n), np.linspace(0, n - 1, points), knots)


def _talker(rng: np.random.Generator, n: int) -> np.ndarray:
    """Babble-like speech: a pulse train at a gliding f0, through formants that move every syllable."""
    sr = SAMPLE_RATE
    f0 = rng.uniform(90, 250) * _smooth_env(rng, n, 3.0, 0.15)
    source = 2 * ((np.cumsum(f0) / sr) % 1.0) - 1  # sawtooth: every harmonic of f0
    out = np.zeros(n)
    at = -int(rng.integers(0, int(0.2 * sr)))
    while at < n:
        length = int(rng.uniform(0.08, 0.25) * sr)
        lo, hi = max(at, 0), min(at + length, n)
        if hi - lo > 16 and rng.random() < 0.8:  # a syllable, or a pause
            freqs = np.fft.rfftfreq(hi - lo, 1 / sr)
            formants = (rng.uniform(300, 850), rng.uniform(850, 2400), rng.uniform(2300, 3300))
            gain = sum(np.exp(-0.5 * ((freqs - fm) / 120.0) ** 2) / (i + 1) for i, fm in enumerate(formants))
            seg = np.fft.irfft(np.fft.rfft(source[lo:hi]) * (gain + 0.02) * (freqs < 4000), n=hi - lo)
            out[lo:hi] += seg * np.hanning(length)[lo - at: hi - at]
        at += length
    return out / (out.std() + 1e-9)


def _decaying_tones(rng: np.random.Generator, n: int, rate_hz: float, f_range: tuple[float, float],
                    dur: tuple[float, float], regular: bool = False) -> np.ndarray:
    """Short events: a sine (with a partial) that decays; Poisson times, or a steady rhythm when regular."""
    sr = SAMPLE_RATE
    x = np.zeros(n)
    if regular:
        period = sr / rate_hz
        times = np.arange(rng.uniform(0, period), n, period * rng.uniform(0.95, 1.05))
    else:
        times = rng.uniform(0, n, rng.poisson(rate_hz * n / sr) + 1)
    for t0 in times.astype(int):
        m = int(rng.uniform(*dur) * sr)
        t = np.arange(m) / sr
        f = rng.uniform(*f_range)
        ev = (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2.7 * f * t)) * np.exp(-t / (dur[0] + 1e-3))
        x[t0: t0 + m] += (ev * rng.uniform(0.5, 1.0))[: n - t0]
    return x


def _bursts(rng: np.random.Generator, n: int, rate_hz: float, lo: float, hi: float, dur: tuple[float, float]) -> np.ndarray:
    """Band-limited noise bursts with a fast decay (clicks, drops, keys, clacks)."""
    sr = SAMPLE_RATE
    x = np.zeros(n)
    for t0 in rng.uniform(0, n, rng.poisson(rate_hz * n / sr) + 1).astype(int):
        m = max(int(rng.uniform(*dur) * sr), 8)
        ev = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 5)) * rng.uniform(0.3, 1.0)
        x[t0: t0 + m] += ev[: n - t0]
    return _band(x, lo, hi) if x.any() else x


def _chirps(rng: np.random.Generator, n: int) -> np.ndarray:
    sr = SAMPLE_RATE
    x = np.zeros(n)
    for _ in range(rng.poisson(6 * n / sr) + 1):
        t0, m = int(rng.uniform(0, n)), int(rng.uniform(0.04, 0.15) * sr)
        f_a, f_b = rng.uniform(2000, 7000, 2)
        freq = np.linspace(f_a, f_b, m) + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * np.arange(m) / sr)
        ev = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.hanning(m)
        x[t0: t0 + m] += ev[: n - t0]
    return x


def _tone(rng: np.random.Generator, n: int, f0: float, harmonics: int) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    return sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) * rng.uniform(0.3, 1.0) / k
               for k in range(1, harmonics + 1))


def _events(rng: np.random.Generator, n: int, rate_hz: float, make) -> np.ndarray:
    """Occasional long events (horn, screech, a passing car): `make(m)` of 0.3-1.5 s at Poisson times."""
    x = np.zeros(n)
    for t0 in rng.uniform(-0.5 * SAMPLE_RATE, n, rng.poisson(rate_hz * n / SAMPLE_RATE)).astype(int):
        m = int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)
        ev = make(m) * np.hanning(m)
        lo, hi = max(t0, 0), min(t0 + m, n)
        if hi > lo:
            x[lo:hi] += ev[lo - t0: hi - t0]
    return x


def scene_audio(label: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """One clip of scene `label` (index into SCENES), n samples at SAMPLE_RATE, float32."""
    u = rng.uniform
    name = SCENES[label]
    if name == "quiet_room":
        x = coloured_noise(rng, n, u(1.2, 2.0)) + u(0.05, 0.3) * _tone(rng, n, u(50, 120), 4)
    elif name == "street":
        x = _band(coloured_noise(rng, n, 2.0), 20, u(300, 800)) * _smooth_env(rng, n, 1.0, 0.5)
        x += u(0.5, 1.5) * _events(rng, n, 1.0, lambda m: _band(rng.standard_normal(m), 80, u(1500, 3000))
                                   * np.linspace(0.2, 1, m))
        x += u(0.4, 1.2) * _events(rng, n, 0.4, lambda m: _tone(rng, m, u(300, 500), 6))
    elif name == "cafe":
        x = sum(_talker(rng, n) * u(0.4, 1.0) for _ in range(int(rng.integers(4, 9))))
        x = x / (x.std() + 1e-9) + u(0.3, 1.0) * _decaying_tones(rng, n, u(0.5, 3), (2000, 5000), (0.05, 0.2))
    elif name == "office":
        x = _band(coloured_noise(rng, n, 1.0), 20, u(200, 400)) * u(0.3, 0.8)
        x += u(0.6, 1.5) * _bursts(rng, n, u(5, 14), 1000, 5000, (0.005, 0.02))
        if rng.random() < 0.5:
            x += u(0.2, 0.6) * _talker(rng, n)
    elif name == "rain":
        x = _band(rng.standard_normal(n), u(800, 2000), 8000) * u(0.5, 1.0)
        x += u(0.5, 1.5) * _bursts(rng, n, u(60, 200), 1500, 8000, (0.001, 0.004))
    elif name == "park":
        wind = _band(coloured_noise(rng, n, 1.5), 20, u(300, 700)) * _smooth_env(rng, n, 2.0, 0.8)
        x = wind * u(0.3, 1.0) + u(0.5, 1.5) * _chirps(rng, n)
    elif name == "metro":
        x = _band(coloured_noise(rng, n, 2.0), 20, u(150, 300))
        x += u(0.5, 1.5) * _bursts(rng, n, 0, 100, 2000, (0.01, 0.03))  # a clack at least
        x += u(0.8, 2.0) * _band(_decaying_tones(rng, n, u(1.2, 2.5), (150, 600), (0.02, 0.06), regular=True), 80, 3000)
        if rng.random() < 0.5:
            x += u(0.3, 0.8) * _events(rng, n, 0.8, lambda m: np.sin(2 * np.pi * np.cumsum(
                u(3000, 6000) + 200 * np.sin(2 * np.pi * 7 * np.arange(m) / SAMPLE_RATE)) / SAMPLE_RATE))
    elif name == "alarm":
        rate = u(2, 6)
        gate = (np.sin(2 * np.pi * rate * np.arange(n) / SAMPLE_RATE + u(0, 6.3)) > u(-0.3, 0.3)).astype(float)
        x = gate * _tone(rng, n, u(800, 3000), 3) + u(0.1, 0.5) * coloured_noise(rng, n, 1.0)
    else:  # pragma: no cover - SCENES and this table are edited together
        raise SoiError(f"unknown scene {name}")
    x = x / (x.std() + 1e-12) + _background(rng, n) * 10 ** (-u(*BACKGROUND_SNR_DB) / 20)
    level = 10 ** (u(-40, -20) / 20)
    return (x * level / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """What any scene may have behind it (unit std): coloured noise, a hum, distant babble or a noise band."""
    kind = int(rng.integers(4))
    if kind == 0:
        x = coloured_noise(rng, n, rng.uniform(0, 2))
    elif kind == 1:
        x = _tone(rng, n, rng.uniform(50, 150), 6) + 0.1 * rng.standard_normal(n)
    elif kind == 2:
        x = _band(sum(_talker(rng, n) for _ in range(int(rng.integers(3, 6)))), 50, rng.uniform(1000, 2500))
    else:
        lo = rng.uniform(50, 3000)
        x = _band(rng.standard_normal(n), lo, lo * rng.uniform(1.5, 4))
    return x / (x.std() + 1e-12)


def scene_clips(count: int, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(audio (count, samples), labels (count,)): classes in turn (balanced), seeded."""
    if count < 1 or seconds <= 0:
        raise SoiError("scene clips need count >= 1 and a positive length")
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    labels = np.arange(count) % len(SCENES)
    rng.shuffle(labels)
    return np.stack([scene_audio(int(c), rng, n) for c in labels]), labels.astype(np.int64)
