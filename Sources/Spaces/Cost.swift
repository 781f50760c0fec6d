/// Analytic cost of an architecture, without running it (the SPOS / MetaPruning
/// convention): MACs of convolutions and the linear layer per image (BN, ReLU, pooling,
/// shuffle, additions not counted); parameters = active conv weights + BN gamma/beta of
/// active channels + linear weight and bias (running statistics not counted).
public struct Cost: Equatable, Hashable, Codable, Sendable {
    public var macs: Int
    public var parameters: Int
    public init(macs: Int, parameters: Int) { self.macs = macs; self.parameters = parameters }

    public static func + (a: Cost, b: Cost) -> Cost { Cost(macs: a.macs + b.macs, parameters: a.parameters + b.parameters) }
}

extension SearchSpace {
    /// Cost of one block at active widths, counted from the operator's layers (`Operator.plan`).
    public func cost(slot: BlockSlot, op: Operator, input cin: Int, output cout: Int, middle mid: Int) -> Cost {
        op.plan.cost(slot: slot, input: cin, output: cout, middle: mid)
    }

    public func cost(_ arch: Architecture) -> Cost {
        let s1 = Self.convOutput(inputSize, kernel: stem.kernel, stride: stem.stride)
        var total = Cost(macs: stem.kernel * stem.kernel * inputChannels * stem.channels * s1 * s1,
                         parameters: stem.kernel * stem.kernel * inputChannels * stem.channels + 2 * stem.channels)
        for (slot, (gene, w)) in zip(blocks, zip(arch.genes, blockWidths(arch))) where !gene.skipped {
            total = total + cost(slot: slot, op: gene.op, input: w.input, output: w.output, middle: w.middle)
        }
        let last = arch.widths.last ?? stem.channels
        let f2 = finalSize * finalSize
        if head.channels > 0 {
            total = total + Cost(macs: last * head.channels * f2, parameters: last * head.channels + 2 * head.channels)
        }
        let features = head.channels > 0 ? head.channels : last
        return total + Cost(macs: features * classes, parameters: features * classes + classes)
    }

    /// The cheapest (or dearest) candidate by MACs: extreme widths and depths everywhere
    /// (costs grow with both), then per block the extreme gene (ties: the earlier operator
    /// / ratio).
    public func extreme(largest: Bool) -> Architecture {
        let widths = stages.map { largest ? $0.widths.max()! : $0.widths.min()! }
        var genes: [Architecture.Gene] = []
        var input = stem.channels
        for slot in blocks {
            let output = widths[slot.stage]
            let depth = stages[slot.stage].depthChoices
            if slot.indexInStage >= (largest ? depth.max()! : depth.min()!) {
                genes.append(slot.skippedGene)
                continue
            }
            var best: (Int, Architecture.Gene)?
            for op in slot.operators {
                for r in slot.middleRatios {
                    let mid = slot.middleWidth(op, input: input, output: output, ratioTenths: r)
                    let m = cost(slot: slot, op: op, input: input, output: output, middle: mid).macs
                    if best == nil || (largest ? m > best!.0 : m < best!.0) { best = (m, Architecture.Gene(op: op, ratioTenths: r)) }
                }
            }
            genes.append(best!.1)
            input = output
        }
        return Architecture(widths: widths, genes: genes)
    }

    public var smallest: Architecture { extreme(largest: false) }
    public var largest: Architecture { extreme(largest: true) }

    /// Whether the space holds exactly one network (a classic network written as a space).
    public var isSingleArchitecture: Bool {
        stages.allSatisfy { $0.widths.count == 1 && !$0.hasElasticDepth } && blocks.allSatisfy { $0.operators.count == 1 && $0.middleRatios.count == 1 }
    }

    /// log10 of the number of distinct candidates (per stage: its widths times the sum,
    /// over its depths, of the genes its running blocks can take).
    public var log10Candidates: Double {
        var l = 0.0
        let slots = blocks
        for (i, s) in stages.enumerated() {
            let perBlock = slots.filter { $0.stage == i }.map { log10(Double($0.operators.count * $0.middleRatios.count)) }
            // log10 of a sum of 10^x terms, each the log-size of one depth's candidates.
            let terms = s.depthChoices.map { d in perBlock.prefix(d).reduce(0, +) }
            let top = terms.max()!
            l += log10(Double(s.widths.count)) + top + log10(terms.reduce(0) { $0 + pow(10, $1 - top) })
        }
        return l
    }
}

/// Where random draws come from (the engine's RNG conforms; this module imports nothing numeric).
public protocol RandomSource: AnyObject {
    func int(below n: Int) -> Int
}

extension SearchSpace {
    /// A uniformly random candidate (SPOS): width, depth, operator and ratio drawn
    /// independently. Draw order: every stage width, every elastic stage's depth (Once-for-All
    /// draws depth uniformly), then per running block its operator and ratio.
    public func randomArchitecture(_ rng: RandomSource) -> Architecture {
        let widths = stages.map { $0.widths.count == 1 ? $0.widths[0] : $0.widths[rng.int(below: $0.widths.count)] }
        let depths = stages.map { $0.hasElasticDepth ? $0.depthChoices[rng.int(below: $0.depthChoices.count)] : $0.blocks }
        let genes = blocks.map { slot in
            slot.indexInStage >= depths[slot.stage] ? slot.skippedGene : randomGene(slot, rng)
        }
        return Architecture(widths: widths, genes: genes)
    }

    func randomGene(_ slot: BlockSlot, _ rng: RandomSource) -> Architecture.Gene {
        Architecture.Gene(op: slot.operators[rng.int(below: slot.operators.count)],
                          ratioTenths: slot.middleRatios[rng.int(below: slot.middleRatios.count)])
    }

    /// The number of blocks of stage `s` that `arch` runs.
    public func depth(of arch: Architecture, stage s: Int) -> Int {
        zip(blocks, arch.genes).filter { $0.0.stage == s && !$0.1.skipped }.count
    }

    /// `arch` with stage `s` running `depth` blocks: the blocks past it skipped, the ones it
    /// newly runs given random genes (a candidate's depth changes in mutation and search moves).
    public func setting(depth: Int, stage s: Int, of arch: Architecture, rng: RandomSource) -> Architecture {
        var a = arch
        for slot in blocks where slot.stage == s {
            if slot.indexInStage >= depth {
                a.genes[slot.index] = slot.skippedGene
            } else if a.genes[slot.index].skipped {
                a.genes[slot.index] = randomGene(slot, rng)
            }
        }
        return a
    }
}

import Foundation
