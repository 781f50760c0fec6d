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
        for (slot, (gene, w)) in zip(blocks, zip(arch.genes, blockWidths(arch))) where !gene.skipped {
            out.append(LayerSignature(kind: .block, slot: slot.index, op: gene.op, input: w.input, output: w.output,
                                      middle: w.middle, resolution: slot.inputSize, stride: slot.stride))
        }
        // Without a head convolution, pooling and classifier belong to the per-pass overhead.
        guard head.channels > 0 else { return out }
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
        for w in stages.last?.widths ?? [stem.channels] where head.channels > 0 {
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
    /// architectures (layers timed alone run slightly slower than in a pass).
    public var scale: Double
    /// Milliseconds per pass that no layer accounts for (input copy, pooling, classifier,
    /// dispatch), fitted with `scale`: what dominates a small network's latency.
    public var overheadMs: Double
    private var index: [LayerSignature: Double] = [:]

    /// "float32" (Pare's engine) or "int8" (the quantized model on oneDNN, `pare latency --int8`).
    public var precision: String
    enum CodingKeys: String, CodingKey { case space, batch, threads, machine, entries, scale, overheadMs, precision }

    public init(space: SearchSpace, batch: Int, threads: Int, machine: String, entries: [Entry], scale: Double = 1, overheadMs: Double = 0,
                precision: String = "float32") {
        self.precision = precision
        self.space = space; self.batch = batch; self.threads = threads; self.machine = machine; self.entries = entries
        self.scale = scale
        self.overheadMs = overheadMs
        index = Dictionary(entries.map { ($0.signature, $0.milliseconds) }, uniquingKeysWith: { a, _ in a })
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(space: try c.decode(SearchSpace.self, forKey: .space), batch: try c.decode(Int.self, forKey: .batch),
                  threads: try c.decode(Int.self, forKey: .threads), machine: try c.decode(String.self, forKey: .machine),
                  entries: try c.decode([Entry].self, forKey: .entries), scale: try c.decode(Double.self, forKey: .scale),
                  // Tables written before the overhead was modelled have none.
                  overheadMs: try c.decodeIfPresent(Double.self, forKey: .overheadMs) ?? 0,
                  // Tables written before int8 tables existed are float.
                  precision: try c.decodeIfPresent(String.self, forKey: .precision) ?? "float32")
        guard scale.isFinite, scale > 0, overheadMs.isFinite, overheadMs >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "scale \(scale) must be positive and overheadMs \(overheadMs) at least 0"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(space, forKey: .space); try c.encode(batch, forKey: .batch); try c.encode(threads, forKey: .threads)
        try c.encode(machine, forKey: .machine); try c.encode(entries, forKey: .entries); try c.encode(scale, forKey: .scale)
        try c.encode(overheadMs, forKey: .overheadMs); try c.encode(precision, forKey: .precision)
    }

    public static func == (a: LatencyTable, b: LatencyTable) -> Bool {
        a.space == b.space && a.batch == b.batch && a.threads == b.threads && a.machine == b.machine
            && a.entries == b.entries && a.scale == b.scale && a.overheadMs == b.overheadMs && a.precision == b.precision
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

    /// Predicted milliseconds of `arch` (scaled sum plus the per-pass overhead), or nil when
    /// a signature is missing.
    public func predictMs(_ arch: Architecture) -> Double? { sumMs(arch).map { $0 * scale + overheadMs } }

    /// Least-squares `measured = scale * summed + overhead` over whole-network measurements,
    /// with the overhead kept at 0 or above (refitted through the origin if the line would
    /// need a negative one) and the scale positive. Summed values should span the space's
    /// range (small and large networks) for the overhead to be determined.
    public static func fit(summed: [Double], measured: [Double]) -> (scale: Double, overheadMs: Double) {
        precondition(summed.count == measured.count, "fit: \(summed.count) sums, \(measured.count) measurements")
        let n = Double(summed.count)
        guard summed.count >= 1 else { return (1, 0) }
        let through = measured.reduce(0, +) / max(summed.reduce(0, +), 1e-12)
        guard summed.count >= 2 else { return (through, 0) }
        let mx = summed.reduce(0, +) / n, my = measured.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for (x, y) in zip(summed, measured) { sxx += (x - mx) * (x - mx); sxy += (x - mx) * (y - my) }
        guard sxx > 1e-12 * max(mx * mx, 1e-12) else { return (through, 0) }
        let slope = sxy / sxx, intercept = my - slope * mx
        guard slope > 0, intercept >= 0 else {
            // Through the origin: scale = sum(xy) / sum(xx).
            let xy = zip(summed, measured).map { $0 * $1 }.reduce(0, +), xx = summed.map { $0 * $0 }.reduce(0, +)
            return (xx > 0 ? max(xy / xx, 1e-6) : through, 0)
        }
        return (slope, intercept)
    }
}
