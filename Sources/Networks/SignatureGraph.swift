import Spaces

/// Inference graphs of single layer signatures (the stem, one block, the head), with the
/// network's current weights: what a latency table of another engine (the int8 path) times.
extension Network {
    public func signatureGraph(_ s: LayerSignature, gene: Architecture.Gene?) -> InferenceGraph {
        layers.signatureGraph(s, gene: gene)
    }
}

/// Per-pass work a latency table measures.
public protocol LatencyMeasuring {
    var batch: Int { get }
    var threads: Int { get }
    var space: SearchSpace { get }
    /// Precision the table is for: "float32" or "int8".
    var precision: String { get }
    /// Milliseconds of one signature (run with `gene` for blocks).
    func measure(_ s: LayerSignature, gene: Architecture.Gene?) -> Double
    /// Milliseconds of a whole forward pass of `arch`.
    func measure(_ arch: Architecture) -> Double
}

extension LatencyMeasuring {
    /// Table of every signature of the space.
    public func table(machine: String, progress: (Int, Int) -> Void = { _, _ in }) -> LatencyTable {
        let all = space.allSignatures()
        var entries: [LatencyTable.Entry] = []
        for (i, (s, g)) in all.enumerated() {
            entries.append(LatencyTable.Entry(signature: s, milliseconds: measure(s, gene: g)))
            progress(i + 1, all.count)
        }
        return LatencyTable(space: space, batch: batch, threads: threads, machine: machine, entries: entries, precision: precision)
    }
}

extension NetworkLayers {
    func signatureGraph(_ s: LayerSignature, gene: Architecture.Gene?) -> InferenceGraph {
        var g = InferenceGraph(inputShape: [s.input, s.resolution, s.resolution], classes: space.classes)
        switch s.kind {
        case .stem:
            // With the input normalization folded in, as a deployed model runs it (border padded).
            let c = space.inputChannels
            let x = g.add("normalize", .normalize(mean: [Float](repeating: 0.5, count: c), std: [Float](repeating: 0.25, count: c)), [0], channels: c)
            _ = g.add("stem.conv", .conv(Self.fold(stem, stemNorm, input: c, output: space.stem.channels)), [x], channels: space.stem.channels)
            return g.foldingInputNormalization()
        case .block:
            let block = blocks[s.slot], gene = gene!
            let i = block.slot.group(of: gene.op)!
            _ = block.operators[i].graph(into: &g, input: 0, channels: s.input, output: s.output, middle: s.middle, kernel: gene.op.kernel)
            return g
        case .head:
            addHead(to: &g, input: 0, channels: s.input)
            return g
        }
    }
}

extension LatencyProfiler: LatencyMeasuring {
    public var threads: Int { network.engine.threads }
    public var space: SearchSpace { network.space }
    public var precision: String { "float32" }
}
