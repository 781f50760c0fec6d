/// One candidate network of a space: an output width per stage and, per block, an
/// operator and a middle-width ratio (tenths), or "skip" for a block past its stage's
/// depth (elastic depth). Hashable (memo key), Codable (JSON), and a text form to paste
/// on a command line:
///   "32/64/128:shuffle3@1.0,xception@0.4,shuffle7@2.0,skip,..."
public struct Architecture: Hashable, Codable, Sendable, CustomStringConvertible {
    public struct Gene: Hashable, Codable, Sendable {
        public var op: Operator
        public var ratioTenths: Int
        /// The block does not run (it lies past its stage's depth). A skipped gene holds its
        /// slot's first operator and ratio (`BlockSlot.skippedGene`), so that two
        /// candidates of the same network are equal and hash alike.
        public var skipped = false
        public init(op: Operator, ratioTenths: Int) { self.op = op; self.ratioTenths = ratioTenths }

        enum CodingKeys: String, CodingKey { case op, ratio, skipped }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            op = try c.decode(Operator.self, forKey: .op)
            let r = try c.decode(Double.self, forKey: .ratio)
            guard let t = Architecture.tenths(r) else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.ratio],
                                                        debugDescription: "ratio \(r) is not a number in 0.1...4.0"))
            }
            ratioTenths = t
            skipped = try c.decodeIfPresent(Bool.self, forKey: .skipped) ?? false
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(op, forKey: .op)
            try c.encode(Double(ratioTenths) / 10, forKey: .ratio)
            // Absent when false: files of fixed-depth spaces stay as they were.
            if skipped { try c.encode(true, forKey: .skipped) }
        }
    }

    public var widths: [Int]
    public var genes: [Gene]

    public init(widths: [Int], genes: [Gene]) {
        self.widths = widths
        self.genes = genes
    }

    public var description: String {
        widths.map(String.init).joined(separator: "/") + ":"
            + genes.map { $0.skipped ? Self.skipText : "\($0.op)@\(Architecture.ratioText($0.ratioTenths))" }.joined(separator: ",")
    }

    /// A skipped block in the text form.
    public static let skipText = "skip"

    /// Whether some block is skipped (elastic depth below a stage's largest).
    public var skipsBlocks: Bool { genes.contains(where: \.skipped) }

    static func ratioText(_ tenths: Int) -> String { "\(tenths / 10).\(tenths % 10)" }

    /// A ratio in tenths, or nil when it is not a finite number in the range any space
    /// allows (checked before converting: NaN, infinities and huge values trap in Int()).
    static func tenths(_ ratio: Double) -> Int? {
        guard ratio.isFinite, ratio >= 0, ratio <= 100 else { return nil }
        return Int((ratio * 10).rounded())
    }

    /// Parses the text form and validates it against `space`.
    public init(parsing text: String, space: SearchSpace) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let halves = trimmed.split(separator: ":", maxSplits: 1).map(String.init)
        guard halves.count == 2 else {
            throw ArchitectureError.malformed("'\(quoted(text))': expected WIDTHS:GENES, e.g. \(space.largest.description.prefix(40))...")
        }
        // More parts than the space has stages or blocks cannot be valid: stop before parsing them all.
        let widthParts = halves[0].split(separator: "/")
        let geneParts = halves[1].split(whereSeparator: { $0 == "," || $0 == " " })
        guard widthParts.count <= space.stages.count, geneParts.count <= space.blocks.count else {
            throw ArchitectureError.invalid("\(widthParts.count) stage widths and \(geneParts.count) block genes for \(space.stages.count) stages and \(space.blocks.count) blocks")
        }
        let widths = try widthParts.map { part -> Int in
            guard let w = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ArchitectureError.malformed("width '\(quoted(part))' is not an integer")
            }
            return w
        }
        let slots = space.blocks
        let genes = try geneParts.enumerated().map { k, part -> Gene in
            if part.trimmingCharacters(in: .whitespaces) == Architecture.skipText, k < slots.count { return slots[k].skippedGene }
            let pieces = part.split(separator: "@").map(String.init)
            guard pieces.count == 2 else { throw ArchitectureError.malformed("gene '\(quoted(part))' is not OPERATOR@RATIO") }
            guard let op = Operator(name: pieces[0]) else {
                throw ArchitectureError.malformed("unknown operator '\(quoted(pieces[0]))' (expected \(Operator.nameHelp))")
            }
            guard let r = Double(pieces[1]), let t = Architecture.tenths(r) else {
                throw ArchitectureError.malformed("ratio '\(quoted(pieces[1]))' in '\(quoted(part))' is not a number in 0.1...4.0")
            }
            return Gene(op: op, ratioTenths: t)
        }
        self.init(widths: widths, genes: genes)
        try space.validate(self)
    }
}

public enum ArchitectureError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case invalid(String)
    public var description: String {
        switch self {
        case let .malformed(m): return "architecture: \(m)"
        case let .invalid(m): return "architecture: \(m)"
        }
    }
}

extension Operator: Codable {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let op = Operator(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown operator '\(name)' (expected \(Operator.nameHelp))"))
        }
        self = op
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension SearchSpace {
    /// Checks that `arch` is a candidate of this space: one width per stage among its
    /// choices, one gene per block with an offered operator and ratio.
    public func validate(_ arch: Architecture) throws {
        guard arch.widths.count == stages.count else {
            throw ArchitectureError.invalid("\(arch.widths.count) stage widths for \(stages.count) stages")
        }
        for (i, (w, stage)) in zip(arch.widths, stages).enumerated() where !stage.widths.contains(w) {
            throw ArchitectureError.invalid("stage \(i) width \(w) is not one of \(stage.widths) (largest allocated \(stage.widths.max()!))")
        }
        let slots = blocks
        guard arch.genes.count == slots.count else {
            throw ArchitectureError.invalid("\(arch.genes.count) block genes for \(slots.count) blocks")
        }
        for (s, stage) in stages.enumerated() {
            let genes = zip(slots, arch.genes).filter { $0.0.stage == s }.map(\.1)
            let depth = genes.prefix { !$0.skipped }.count
            guard genes.dropFirst(depth).allSatisfy(\.skipped) else {
                throw ArchitectureError.invalid("stage \(s) runs a block after a skipped one (blocks past a stage's depth are skipped, none before)")
            }
            guard stage.depthChoices.contains(depth) else {
                throw ArchitectureError.invalid("stage \(s) runs \(depth) blocks; its depths are \(stage.depthChoices)")
            }
        }
        for (slot, gene) in zip(slots, arch.genes) {
            if gene.skipped {
                guard gene == slot.skippedGene else {
                    throw ArchitectureError.invalid("block \(slot.index) is skipped, so its gene must be \(slot.skippedGene.op)@\(Architecture.ratioText(slot.skippedGene.ratioTenths)) (the slot's first choices)")
                }
                continue
            }
            guard slot.operators.contains(gene.op) else {
                throw ArchitectureError.invalid("block \(slot.index) operator \(gene.op) is not one of \(slot.operators.map(\.description))")
            }
            guard slot.middleRatios.contains(gene.ratioTenths) else {
                throw ArchitectureError.invalid("block \(slot.index) ratio \(Architecture.ratioText(gene.ratioTenths)) is not one of \(slot.middleRatios.map(Architecture.ratioText))")
            }
        }
    }

    /// Active (input, output, middle) widths of every block of `arch`.
    public func blockWidths(_ arch: Architecture) -> [(input: Int, output: Int, middle: Int)] {
        var input = stem.channels
        return zip(blocks, arch.genes).map { slot, gene in
            let output = arch.widths[slot.stage]
            defer { input = output }
            return (input, output, slot.middleWidth(gene, input: input, output: output))
        }
    }
}

import Foundation
