// Analytic cost of a path, the SPOS/peer convention: MACs of convolutions and the linear
// layer only (BN, ReLU, pooling, shuffle not counted), per image; params = active conv
// weights + BN gamma/beta of active channels + linear weight and bias.

public struct PathCost: Equatable, Sendable {
    public var macs: Int
    public var parameters: Int

    public init(macs: Int, parameters: Int) {
        self.macs = macs
        self.parameters = parameters
    }
}

extension ReferenceSpace {
    public func cost(of block: BlockSpec, gene: BlockGene) -> PathCost {
        let k = gene.choice.kernel
        let mid = block.middleWidth(ratioTenths: gene.ratioTenths)
        let o2 = block.outputSize * block.outputSize
        var macs = 0, params = 0
        let mIn: Int, mOut: Int
        if block.stride == 1 {
            mIn = block.outputChannels / 2; mOut = block.outputChannels / 2
        } else {
            mIn = block.inputChannels; mOut = block.outputChannels - block.inputChannels
            let c = block.inputChannels
            macs += k * k * c * o2 + c * c * o2
            params += k * k * c + 2 * c + c * c + 2 * c
        }
        if gene.choice == .xception {
            macs += 9 * mIn * o2 + mIn * mid * o2 + 9 * mid * o2 + mid * mid * o2 + 9 * mid * o2 + mid * mOut * o2
            params += 9 * mIn + 2 * mIn + mIn * mid + 2 * mid + 9 * mid + 2 * mid + mid * mid + 2 * mid
                + 9 * mid + 2 * mid + mid * mOut + 2 * mOut
        } else {
            // The first 1x1 runs before the (possibly strided) depthwise: input resolution.
            let i2 = block.inputSize * block.inputSize
            macs += mIn * mid * i2 + k * k * mid * o2 + mid * mOut * o2
            params += mIn * mid + 2 * mid + k * k * mid + 2 * mid + mid * mOut + 2 * mOut
        }
        return PathCost(macs: macs, parameters: params)
    }

    /// Cost of a whole path (stem, blocks, head).
    public func cost(of path: Path) -> PathCost {
        precondition(path.genes.count == blocks.count, "path has \(path.genes.count) genes, space has \(blocks.count) blocks")
        let s2 = imageSize * imageSize
        var macs = 9 * inputChannels * stemChannels * s2
        var params = 9 * inputChannels * stemChannels + 2 * stemChannels
        for (spec, gene) in zip(blocks, path.genes) {
            let c = cost(of: spec, gene: gene)
            macs += c.macs
            params += c.parameters
        }
        let last = blocks.last!
        let f2 = last.outputSize * last.outputSize
        let top = stageChannels.last!
        macs += top * finalChannels * f2 + finalChannels * classes
        params += top * finalChannels + 2 * finalChannels + finalChannels * classes + classes
        return PathCost(macs: macs, parameters: params)
    }

    /// The cheapest (or dearest) path by MACs, block by block (ties: lowest operator, ratio).
    public func extremePath(largest: Bool) -> Path {
        Path(genes: blocks.map { spec in
            var best: (Int, BlockGene)?
            for choice in BlockChoice.allCases {
                for r in ratioTenths {
                    let g = BlockGene(choice: choice, ratioTenths: r)
                    let m = cost(of: spec, gene: g).macs
                    if let b = best {
                        if largest ? m > b.0 : m < b.0 { best = (m, g) }
                    } else {
                        best = (m, g)
                    }
                }
            }
            return best!.1
        })
    }
}
