import Layers
import Networks
import Runs

/// An exponential moving average of a network's weights and BatchNorm running statistics
/// (Polyak averaging, as in timm's model EMA): after step t, avg = d·avg + (1 − d)·current
/// with d = min(decay, (1 + t) / (10 + t)), so that the first steps are not dominated by the
/// starting point. Training never sees the average; validation and the written weights use
/// it (`swap()` exchanges it with the network's state and back).
public final class WeightAverage {
    public let decay: Float
    /// The network's state tensors (parameters, then running means and variances) and the
    /// average of each, in checkpoint order.
    private let live: [(name: String, pointer: UnsafeMutablePointer<Float>, count: Int)]
    private let averaged: [UnsafeMutablePointer<Float>]
    /// Whether the network currently holds the average (between two swaps).
    public private(set) var swapped = false

    public init(network: any Network, decay: Float) {
        precondition(decay > 0 && decay < 1, "average decay \(decay)")
        self.decay = decay
        var tensors: [(String, UnsafeMutablePointer<Float>, Int)] = network.parameters.map { ($0.name, $0.value, $0.count) }
        for bn in network.norms {
            tensors.append(("running_mean:" + bn.gamma.name, bn.runningMean, bn.maxChannels))
            tensors.append(("running_var:" + bn.gamma.name, bn.runningVariance, bn.maxChannels))
        }
        live = tensors
        averaged = tensors.map { t in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: t.2)
            p.initialize(from: t.1, count: t.2)
            return p
        }
    }

    deinit { averaged.forEach { $0.deallocate() } }

    /// Starts the average over from the network's current state (after loading weights).
    public func reset() {
        precondition(!swapped, "average reset while the network holds it")
        for (t, a) in zip(live, averaged) { a.update(from: t.pointer, count: t.count) }
    }

    /// The decay applied after step `step` (counted from 1).
    public func decay(afterStep step: Int) -> Float {
        min(decay, Float(1 + step) / Float(10 + step))
    }

    /// Folds the network's current state into the average after step `step` (from 1).
    public func update(afterStep step: Int) {
        precondition(!swapped, "average updated while the network holds it")
        let d = decay(afterStep: step), e = 1 - d
        for (t, a) in zip(live, averaged) {
            for i in 0..<t.count { a[i] = d * a[i] + e * t.pointer[i] }
        }
    }

    /// Exchanges the network's state with the average (call twice to restore).
    public func swap() {
        for (t, a) in zip(live, averaged) {
            for i in 0..<t.count { let v = t.pointer[i]; t.pointer[i] = a[i]; a[i] = v }
        }
        swapped.toggle()
    }

    /// Whether every averaged value is finite.
    public var isFinite: Bool {
        zip(live, averaged).allSatisfy { t, a in UnsafeBufferPointer(start: a, count: t.count).allSatisfy(\.isFinite) }
    }

    // MARK: checkpoints (sections "average:NAME")

    func write(into w: inout PayloadWriter) {
        for (t, a) in zip(live, averaged) { w.append("average:" + t.name, floats: a, count: t.count) }
    }

    /// Checks that `reader` holds a finite average of the right size for every tensor.
    func check(_ reader: PayloadReader, path: String) throws {
        for t in live {
            let name = "average:" + t.name
            guard reader.has(name) else {
                throw RunError.badCheckpoint(path: path, reason: "no weight average (tensor \(name)): written by a run without --ema")
            }
            _ = try reader.section(name, bytes: t.count * 4)
            guard try reader.allFinite(name) else {
                throw RunError.badCheckpoint(path: path, reason: "tensor \(name) holds non-finite values (a diverged state)")
            }
        }
    }

    func read(_ reader: PayloadReader) throws {
        precondition(!swapped, "checkpoint restored while the network holds the average")
        for (t, a) in zip(live, averaged) { try reader.readFloats("average:" + t.name, into: a, count: t.count) }
    }
}
