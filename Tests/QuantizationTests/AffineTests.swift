import Quantization
import TensorCore
import Testing

@Suite("int8 quantization: grids, weights, observers") struct AffineTests {
    @Test("quantize then dequantize is within half a step inside the range; zero is exact; outside clamps")
    func roundTrip() {
        let rng = RNG(seed: 3)
        for (lo, hi) in [(Float(-1.3), Float(2.7)), (0, 6.5), (-0.02, 0.001), (-5, -1)] {
            for powerOfTwo in [false, true] {
                let a = AffineQuantization(minimum: lo, maximum: hi, powerOfTwo: powerOfTwo)
                #expect(a.range.lowerBound <= min(lo, 0) + a.scale / 2 && a.range.upperBound >= max(hi, 0) - a.scale / 2, "\(a) for [\(lo), \(hi)]")
                #expect(a.dequantize(a.quantize(0)) == 0)
                if powerOfTwo { #expect(a.scale == AffineQuantization.powerOfTwo(atLeast: a.scale) && a.scale.significandBitPattern == 0) }
                for _ in 0..<2000 {
                    let x = Float(rng.uniform()) * (max(hi, 0) - min(lo, 0)) + min(lo, 0)
                    let r = a.dequantize(a.quantize(x))
                    // A value inside the grid's span rounds to its nearest grid point.
                    if a.range.contains(x) { #expect(abs(r - x) <= a.scale / 2 * 1.0001, "\(x) -> \(r), scale \(a.scale)") }
                }
                #expect(a.quantize(a.range.upperBound + 100 * a.scale) == 255 && a.quantize(a.range.lowerBound - 100 * a.scale) == 0)
            }
        }
        // Half steps round to even, as ONNX QuantizeLinear does.
        let unit = AffineQuantization(scale: 1, zeroPoint: 10)
        #expect([0.5, 1.5, 2.5, -0.5, -1.5].map { unit.quantize(Float($0)) } == [10, 12, 12, 10, 8])
        #expect(unit.quantize(.nan) == 10)
    }

    @Test("per-channel weight scales: max |w| / 127 per output channel, -128 unused, zero channels kept")
    func perChannel() {
        let w: [Float] = [1, -2, 0.5, /* */ 0, 0, 0, /* */ 0.127, 0.0635, -0.127]
        let q = ChannelQuantizedWeights(w, outputs: 3)
        #expect(q.scales == [2 / 127, 1, 0.001])
        #expect(q.values == [64, -127, 32, 0, 0, 0, 127, 64, -127])
        let d = q.dequantized()
        for (x, y) in zip(w, d) { #expect(abs(x - y) <= 2 / 127 / 2 + 1e-7) }
        let p = ChannelQuantizedWeights(w, outputs: 3, powerOfTwo: true)
        #expect(p.scales == [1.0 / 32, 1, 1.0 / 512])
        #expect(p.values.allSatisfy { $0 >= -127 })
    }

    @Test("observers on known distributions: min/max, percentiles clip outliers, KL clips a long tail")
    func observers() {
        let rng = RNG(seed: 9)
        // Uniform [0, 1) with 0.5 % outliers at 100.
        var values = (0..<20_000).map { _ in Float(rng.uniform()) }
        for i in stride(from: 0, to: values.count, by: 200) { values[i] = 100 }
        var s = ActivationStatistics()
        s.observeRange(values)
        s.observeHistogram(values)
        #expect(s.range(.minmax) == (0.0, 100.0) || s.range(.minmax).lower < 1e-3)
        #expect(s.range(.minmax).upper == 100)
        let p = s.range(.percentile, percentile: 99)
        #expect(p.upper > 0.9 && p.upper < 1.2, "99th percentile \(p)")
        #expect(p.lower >= 0 && p.lower < 0.05)
        // (KL cannot help here: a flat distribution merged into 256 levels and spread back is
        // almost itself, so it keeps the outliers. Its case is a bell with a tail, below.)
        // Gaussian: symmetric, KL keeps several standard deviations, not the extremes of the sample.
        var g = ActivationStatistics()
        let normal = (0..<50_000).map { _ in Float(rng.normal()) } + [40, -40]
        g.observeRange(normal)
        g.observeHistogram(normal)
        let kg = g.range(.kl)
        #expect(kg.upper > 2 && kg.upper < 20 && kg.lower < -2 && kg.lower > -20, "KL on a gaussian: \(kg)")
        // Without outliers nothing worth clipping: KL keeps nearly all of a uniform range.
        var u = ActivationStatistics()
        let uniform = (0..<20_000).map { _ in Float(rng.uniform()) }
        u.observeRange(uniform)
        u.observeHistogram(uniform)
        #expect(u.range(.kl).upper > 0.85)
    }

    @Test("SQNR: infinite when exact, about 6 dB per bit")
    func sqnrValues() {
        let rng = RNG(seed: 4)
        let x = (0..<10_000).map { _ in Float(rng.uniform()) * 2 - 1 }
        #expect(sqnr(reference: x, approximation: x) == .infinity)
        let a = AffineQuantization(minimum: -1, maximum: 1)
        let eight = sqnr(reference: x, approximation: x.map { a.dequantize(a.quantize($0)) })
        // Uniform signal, uniform rounding noise: 20·log10(255) ≈ 48 dB.
        #expect(eight > 46 && eight < 50, "\(eight)")
    }
}
