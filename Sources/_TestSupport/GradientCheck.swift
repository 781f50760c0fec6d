import Layers
import TensorCore

/// Central finite-difference gradient checker. The scalar probed is
/// L = sum_i out_i * r_i with fixed random weights r, accumulated in Double, so the
/// analytic input/parameter gradients are the layer's backward applied to dy = r.
public struct GradientCheck {
    public var epsilon: Float = 1e-2
    /// Pass when |analytic - numeric| <= tolerance * max(|analytic|, |numeric|) + absolute.
    /// `absolute` covers Float32 rounding in the probed sum (about sqrt(outputs) * 1e-7 / eps);
    /// a wrong backward errs by the size of the gradient itself (1e-2 and up here).
    public var tolerance: Double = 2e-2
    public var absolute: Double = 1e-3
    /// Coordinates checked per tensor at most (evenly spread); all when smaller.
    public var maxCoordinates = 200

    public init(epsilon: Float = 1e-2, tolerance: Double = 2e-2) {
        self.epsilon = epsilon
        self.tolerance = tolerance
    }

    public struct Failure: CustomStringConvertible {
        public var tensor: String
        public var index: Int
        public var analytic: Double
        public var numeric: Double
        public var description: String { "\(tensor)[\(index)]: analytic \(analytic), numeric \(numeric)" }
    }

    /// Checks d L / d input and d L / d parameters (the `parameterWindows` give which
    /// flat indices of each parameter are active; others must have zero gradient).
    /// `forward` runs the layer in training mode and returns its output; `backward` maps
    /// dy to dx (nil when the input gradient is not computed).
    public func run(
        input: FeatureMap, parameters: [(Parameter, [Int])],
        forward: () -> FeatureMap, backward: (FeatureMap) -> FeatureMap?, rng: RNG
    ) -> [Failure] {
        report(input: input, parameters: parameters, forward: forward, backward: backward, rng: rng).failures
    }

    public struct Report {
        public var failures: [Failure]
        public var checked: Int
    }

    /// As `run`, also counting the coordinates probed.
    public func report(
        input: FeatureMap, parameters: [(Parameter, [Int])],
        forward: () -> FeatureMap, backward: (FeatureMap) -> FeatureMap?, rng: RNG
    ) -> Report {
        let out0 = forward()
        let weightsR = OwnedMap.random(channels: out0.channels, height: out0.height, width: out0.width,
                                       batch: out0.batch, rng: rng)
        let r = weightsR.values
        func loss() -> Double {
            let y = forward()
            var s = 0.0
            for i in 0..<y.count { s += Double(y.pointer[i]) * Double(r[i]) }
            return s
        }
        // Analytic.
        for (p, _) in parameters { p.zeroGradient() }
        _ = forward()
        let dx = backward(weightsR.map)
        let analyticInput = dx?.toArray()
        let analyticParams = parameters.map { Array(UnsafeBufferPointer(start: $0.0.grad, count: $0.0.count)) }
        var failures: [Failure] = []
        var checked = 0
        func probe(_ name: String, _ ptr: UnsafeMutablePointer<Float>, _ indices: [Int], _ analytic: [Float]) {
            let step = max(1, indices.count / maxCoordinates)
            for k in stride(from: 0, to: indices.count, by: step) {
                let i = indices[k]
                let saved = ptr[i]
                ptr[i] = saved + epsilon; let lp = loss()
                ptr[i] = saved - epsilon; let lm = loss()
                ptr[i] = saved
                let numeric = (lp - lm) / (2 * Double(epsilon))
                checked += 1
                let a = Double(analytic[i])
                if abs(a - numeric) > tolerance * max(abs(a), abs(numeric)) + absolute {
                    failures.append(Failure(tensor: name, index: i, analytic: a, numeric: numeric))
                }
            }
        }
        if let analyticInput {
            probe("input", input.pointer, Array(0..<input.count), analyticInput)
        }
        for ((p, window), analytic) in zip(parameters, analyticParams) {
            probe(p.name, p.value, window, analytic)
            // Outside the active window the gradient must be exactly zero.
            let active = Set(window)
            for i in 0..<p.count where !active.contains(i) && analytic[i] != 0 {
                failures.append(Failure(tensor: p.name + " (inactive)", index: i, analytic: Double(analytic[i]), numeric: 0))
            }
        }
        return Report(failures: failures, checked: checked)
    }
}

/// Flat indices of the window [0..<rows, 0..<cols] of a row-major [allRows, allCols]
/// tensor (inner block `inner` elements per column entry, e.g. K*K for conv weights).
public func windowIndices(rows: Int, cols: Int, allCols: Int, inner: Int = 1) -> [Int] {
    var out: [Int] = []
    for r in 0..<rows { for c in 0..<(cols * inner) { out.append(r * allCols * inner + c) } }
    return out
}
