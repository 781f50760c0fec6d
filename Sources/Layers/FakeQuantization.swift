/// Quantization-aware training's fake quantization: a value rounded onto a uint8 affine grid
/// and back, y' = s · (clamp(round_half_even(y / s) + z, 0, 255) − z) — the same grid and
/// rounding as the int8 model's activations (Quantization.AffineQuantization), here because
/// training layers sit below that module. The backward pass treats it as the identity inside
/// [lower, upper] and as a constant outside (straight-through estimator with clipping).
public struct FakeQuantization: Codable, Equatable, Sendable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(scale: Float, zeroPoint: Int32) {
        precondition(scale > 0 && scale.isFinite && (0...255).contains(zeroPoint), "fake quantization: scale \(scale), zero point \(zeroPoint)")
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The grid covering [minimum, maximum] and 0, as calibration chooses it.
    public init(minimum: Float, maximum: Float) {
        let lo = min(minimum, 0), hi = max(maximum, 0)
        var scale = (hi - lo) / 255
        if !(scale > 0) || !scale.isFinite { scale = 1 }
        let zero = (-lo / scale).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: Int32(min(max(zero, 0), 255)))
    }

    public var lower: Float { scale * Float(-zeroPoint) }
    public var upper: Float { scale * Float(255 - zeroPoint) }

    @inline(__always) public func apply(_ y: Float) -> Float {
        let q = min(max((y / scale).rounded(.toNearestOrEven) + Float(zeroPoint), 0), 255)
        return scale * (q - Float(zeroPoint))
    }

    /// Symmetric int8 fake quantization of each of `rows` rows of `w` in place (per output
    /// channel, scale max |row| / 127): what the int8 model's weights will hold.
    public static func weights(_ w: UnsafeMutablePointer<Float>, count: Int, rows: Int) {
        guard rows > 0, count % rows == 0 else { return }
        let per = count / rows
        for r in 0..<rows {
            let row = w + r * per
            var m: Float = 0
            for k in 0..<per { m = max(m, abs(row[k])) }
            guard m > 0, m.isFinite else { continue }
            let s = m / 127
            for k in 0..<per { row[k] = s * min(max((row[k] / s).rounded(.toNearestOrEven), -127), 127) }
        }
    }
}
