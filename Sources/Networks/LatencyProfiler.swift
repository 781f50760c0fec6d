import Foundation
import Layers
import Spaces
import TensorCore

/// Measures inference latency on this machine: each layer signature of a space alone
/// (stem, one choice block at given widths, head with pool and classifier), and whole
/// architectures end to end, as the median of repeated timed runs after warm-up.
public final class LatencyProfiler {
    public let network: any Network
    public let batch: Int
    public let repeats: Int
    private let inputBuffer = ScratchBuffer()
    private let rng = RNG(seed: 77)

    public init(network: any Network, batch: Int, repeats: Int) {
        precondition(batch >= 1 && repeats >= 1, "latency: batch \(batch), repeats \(repeats)")
        self.network = network
        self.batch = batch
        self.repeats = repeats
    }

    func randomInput(channels: Int, size: Int) -> FeatureMap {
        let x = inputBuffer.featureMap(channels: channels, height: size, width: size, batch: batch)
        for i in 0..<x.count { x.pointer[i] = Float(rng.normal()) }
        return x
    }

    func medianMs(_ body: () -> Void) -> Double { Self.medianMs(repeats: repeats, body) }

    /// Median milliseconds of `repeats` timed runs of `body` after 3 untimed ones.
    public static func medianMs(repeats: Int, _ body: () -> Void) -> Double {
        for _ in 0..<3 { body() }
        var times: [Double] = []
        for _ in 0..<repeats {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t0)
            body()
            clock_gettime(CLOCK_MONOTONIC, &t1)
            times.append(Double(t1.tv_sec - t0.tv_sec) * 1e3 + Double(t1.tv_nsec - t0.tv_nsec) * 1e-6)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Milliseconds of one signature (run with `gene` for blocks).
    public func measure(_ s: LayerSignature, gene: Architecture.Gene?) -> Double {
        let space = network.space
        let x = randomInput(channels: s.input, size: s.resolution)
        switch s.kind {
        case .stem:
            return medianMs { _ = network.layers.forwardStem(x) }
        case .block:
            let block = network.layers.blocks[s.slot]
            return medianMs { _ = block.forward(x, gene: gene!, output: s.output, mode: .inference) }
        case .head:
            precondition(s.output == space.head.channels, "head signature \(s)")
            return medianMs { _ = network.layers.forwardHead(x) }
        }
    }

    /// Milliseconds of a whole forward pass of `arch`.
    public func measure(_ arch: Architecture) -> Double {
        let space = network.space
        let x = randomInput(channels: space.inputChannels, size: space.inputSize)
        return medianMs { _ = network.forward(x, arch: arch, mode: .inference) }
    }
}

extension NetworkLayers {
    /// Inference stem alone (conv with folded BN + ReLU).
    func forwardStem(_ images: FeatureMap) -> FeatureMap {
        stem.forward(images, outputChannels: space.stem.channels, mode: .inference,
                     epilogue: stemNorm.inferenceEpilogue(channels: space.stem.channels))
    }

    /// Inference head alone: conv1x1 with folded BN + ReLU (if any), pool, classifier.
    func forwardHead(_ x: FeatureMap) -> FeatureMap {
        var y = x
        if let head, let headNorm {
            y = head.forward(x, outputChannels: space.head.channels, mode: .inference,
                             epilogue: headNorm.inferenceEpilogue(channels: space.head.channels))
        }
        return engine.measure(.poolAndLinear) { classifier.forward(pool.forward(y, mode: .inference), mode: .inference) }
    }
}
