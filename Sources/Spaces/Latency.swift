/// What determines a layer group's run time: its kind, place (resolution, stride) and
/// active widths. The unit of a latency table.
public struct LayerSignature: Hashable, Codable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable { case stem, block, head }
    public var kind: Kind
    /// Block slot index (0 for stem and head).
    public var slot: Int
    public var op: Operator?
    public var input: Int
    public var output: Int
    public var middle: Int
    public var resolution: Int
    public var stride: Int

    public var description: String {
        switch kind {
        case .stem: return "stem \(input)->\(output) @\(resolution)"
        case .head: return "head \(input)->\(output) @\(resolution)"
        case .block: return "block \(slot) \(op.map(\.description) ?? "?") \(input)->\(middle)->\(output) @\(resolution)/s\(stride)"
        }
    }
}

extension SearchSpace {
    /// The signatures an architecture runs, in order (stem, blocks, head).
    public func signatures(_ arch: Architecture) -> [LayerSignature] {
        var out = [LayerSignature(kind: .stem, slot: 0, op: nil, input: inputChannels, output: stem.channels, middle: 0,
                                  resolution: inputSize, stride: stem.stride)]
        for (slot, (gene, w)) in zip(blocks, zip(arch.genes, blockWidths(arch))) {
            out.append(LayerSignature(kind: .block, slot: slot.index, op: gene.op, input: w.input, output: w.output,
                                      middle: w.middle, resolution: slot.inputSize, stride: slot.stride))
        }
        out.append(LayerSignature(kind: .head, slot: 0, op: nil, input: arch.widths.last ?? stem.channels, output: head.channels,
                                  middle: 0, resolution: finalSize, stride: 1))
        return out
    }

    /// Every signature any candidate can run, each with one gene that produces it.
    public func allSignatures() -> [(LayerSignature, Architecture.Gene?)] {
        var seen = Set<LayerSignature>()
        var out: [(LayerSignature, Architecture.Gene?)] = []
        func add(_ s: LayerSignature, _ g: Architecture.Gene?) { if seen.insert(s).inserted { out.append((s, g)) } }
        add(LayerSignature(kind: .stem, slot: 0, op: nil, input: inputChannels, output: stem.channels, middle: 0,
                           resolution: inputSize, stride: stem.stride), nil)
        for slot in blocks {
            for op in slot.operators {
                for i in slot.inputWidths {
                    for o in slot.outputWidths where !slot.widthPreserving || i == o {
                        for r in slot.middleRatios {
                            let m = slot.middleWidth(op, input: i, output: o, ratioTenths: r)
                            add(LayerSignature(kind: .block, slot: slot.index, op: op, input: i, output: o, middle: m,
                                               resolution: slot.inputSize, stride: slot.stride),
                                Architecture.Gene(op: op, ratioTenths: r))
                        }
                    }
                }
            }
        }
        for w in stages.last?.widths ?? [stem.channels] {
            add(LayerSignature(kind: .head, slot: 0, op: nil, input: w, output: head.channels, middle: 0, resolution: finalSize, stride: 1), nil)
        }
        return out
    }
}

/// Measured milliseconds per layer signature on one machine, for one space and batch
/// size; an architecture's predicted latency is the sum over its signatures.
public struct LatencyTable: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        public var signature: LayerSignature
        public var milliseconds: Double
        public init(signature: LayerSignature, milliseconds: Double) { self.signature = signature; self.milliseconds = milliseconds }
    }

    public var space: SearchSpace
    public var batch: Int
    public var threads: Int
    public var machine: String
    public var entries: [Entry]
    /// Factor applied to the summed entries, fitted on whole-network measurements of a few
    /// random architectures (layers timed alone run slightly slower than in a pass).
    public var scale: Double
    private var index: [LayerSignature: Double] = [:]

    enum CodingKeys: String, CodingKey { case space, batch, threads, machine, entries, scale }

    public init(space: SearchSpace, batch: Int, threads: Int, machine: String, entries: [Entry], scale: Double = 1) {
        self.space = space; self.batch = batch; self.threads = threads; self.machine = machine; self.entries = entries
        self.scale = scale
        index = Dictionary(entries.map { ($0.signature, $0.milliseconds) }, uniquingKeysWith: { a, _ in a })
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(space: try c.decode(SearchSpace.self, forKey: .space), batch: try c.decode(Int.self, forKey: .batch),
                  threads: try c.decode(Int.self, forKey: .threads), machine: try c.decode(String.self, forKey: .machine),
                  entries: try c.decode([Entry].self, forKey: .entries), scale: try c.decode(Double.self, forKey: .scale))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(space, forKey: .space); try c.encode(batch, forKey: .batch); try c.encode(threads, forKey: .threads)
        try c.encode(machine, forKey: .machine); try c.encode(entries, forKey: .entries); try c.encode(scale, forKey: .scale)
    }

    public static func == (a: LatencyTable, b: LatencyTable) -> Bool {
        a.space == b.space && a.batch == b.batch && a.threads == b.threads && a.machine == b.machine
            && a.entries == b.entries && a.scale == b.scale
    }

    /// Sum of the table entries of `arch` (unscaled), or nil when a signature is missing.
    public func sumMs(_ arch: Architecture) -> Double? {
        var total = 0.0
        for s in space.signatures(arch) {
            guard let ms = index[s] else { return nil }
            total += ms
        }
        return total
    }

    /// Predicted milliseconds of `arch` (scaled sum), or nil when a signature is missing.
    public func predictMs(_ arch: Architecture) -> Double? { sumMs(arch).map { $0 * scale } }
}
