import Datasets
import Foundation
import Layers
import Networks
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite struct SupernetTests {
    let space = SearchSpace.reference

    @Test func wholeNetworkGradientCheck() {
        BLAS.configure()
        let rng = RNG(seed: 6)
        let net = Supernet(space: space, rng: rng)
        // As in the block check: BN shifts of +4 keep the ReLUs off their kinks.
        for bn in net.norms { bn.beta.value.update(repeating: 4, count: bn.maxChannels) }
        let x = OwnedMap.random(channels: 1, height: 28, width: 28, batch: 16, rng: rng)
        let labels: [Int32] = (0..<16).map { Int32($0 % 10) }
        for path in [try! Architecture(parsing: "32/64/128:xception@0.6,shuffle5@1.0,shuffle7@0.4,xception@1.2,shuffle3@2.0,shuffle5@0.2", space: space),
                     try! Architecture(parsing: "32/64/128:shuffle7@1.4,xception@0.2,xception@2.0,shuffle3@0.8,xception@0.4,shuffle7@1.6", space: space)] {
            checkGradients(net, path: path, x: x, labels: labels, minimumChecked: 15)
        }
    }

    /// Elastic depth: a skipped block is the identity forward and backward, receives no
    /// gradient, and the gradients of the blocks that run match finite differences.
    @Test func elasticDepthGradientCheck() throws {
        BLAS.configure()
        let elastic = try SpaceFile.parse("""
            name: elastic
            input: {channels: 1, size: 12}
            classes: 4
            stem: {channels: 4}
            kernel_sharing: crop
            stages:
              - {depths: [1, 2, 3], stride: 2, widths: [6, 8], operators: [mbconv3_e3, mbconv5_e3], middle_ratios: [0.5, 1.0]}
              - {depths: [1, 2], stride: 1, widths: [8, 12], operators: [mbconv3_e3, mbconv5_e3], middle_ratios: [0.5, 1.0]}
              - {depths: [1, 2], stride: 2, widths: [16, 24], operators: [shuffle3, xception], middle_ratios: [0.5, 1.0]}
            head: {channels: 16}
            """, file: "elastic.yaml")
        let rng = RNG(seed: 8)
        let net = Supernet(space: elastic, rng: rng)
        for bn in net.norms { bn.beta.value.update(repeating: 4, count: bn.maxChannels) }
        let x = OwnedMap.random(channels: 1, height: 12, width: 12, batch: 8, rng: rng)
        let labels: [Int32] = (0..<8).map { Int32($0 % 4) }
        // Blocks of one parity share gradient buffers: a skip between two of them (blocks 1
        // and 3, both inverted residuals, in the second path) must not let one overwrite the
        // other's gradient.
        for text in ["8/12/16:mbconv5_e3@1.0,skip,skip,mbconv3_e3@1.0,skip,shuffle3@1.0,skip",
                     "8/8/24:mbconv5_e3@1.0,mbconv3_e3@0.5,skip,mbconv3_e3@1.0,mbconv5_e3@0.5,shuffle3@1.0,skip",
                     "6/12/16:mbconv3_e3@0.5,mbconv5_e3@1.0,skip,mbconv5_e3@1.0,skip,xception@0.5,shuffle3@1.0",
                     "8/12/24:mbconv3_e3@1.0,mbconv5_e3@0.5,mbconv3_e3@1.0,mbconv3_e3@1.0,mbconv5_e3@1.0,xception@1.0,skip"] {
            checkGradients(net, path: try Architecture(parsing: text, space: elastic), x: x, labels: labels, minimumChecked: 8)
        }
    }

    /// Backward of `path`: exactly the chosen operators' parameters (and stem, head,
    /// classifier) touched, and each touched tensor's largest gradient within 5 % of a
    /// central difference.
    func checkGradients(_ net: Supernet, path: Architecture, x: OwnedMap, labels: [Int32], minimumChecked: Int) {
        let space = net.space
        let ce = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        func loss() -> Double {
            let z = net.forward(x.map, arch: path, mode: .training)
            return labels.withUnsafeBufferPointer { ce.evaluate(logits: z, labels: $0, gradient: false).loss }
        }
        for p in net.parameters { p.zeroGradient() }
        let z = net.forward(x.map, arch: path, mode: .training)
        let r = labels.withUnsafeBufferPointer { ce.evaluate(logits: z, labels: $0, gradient: true) }
        net.backward(r.gradient!)
        let touched = net.parameters.filter(\.touched)
        // Every block's chosen operator, and nothing else, received a gradient: the touched
        // parameters are exactly the stem, head and classifier and blocks.B.ops.J.* for the
        // chosen operator J of each block B that runs.
        let chosen = path.genes.enumerated().filter { !$0.1.skipped }.map { b, gene in
            // A slot whose operators share one set of weights names no ".ops.J".
            space.blocks[b].operatorGroups.count == 1 ? "blocks.\(b)." : "blocks.\(b).ops.\(space.blocks[b].group(of: gene.op)!)."
        }
        let expected = net.parameters.filter { p in !p.name.hasPrefix("blocks.") || chosen.contains { p.name.hasPrefix($0) } }
        #expect(touched.map(\.name) == expected.map(\.name), "\(path)")
        if space.blocks.allSatisfy({ $0.operatorGroups.count >= 4 }) { #expect(touched.count < net.parameters.count / 2) }
        var checked = 0, bad: [String] = []
        for p in touched where p.name.contains("blocks") || p.name.hasPrefix("stem") || p.name.hasPrefix("fc") {
            // The coordinate with the largest gradient of each tensor: a clear signal above noise.
            var best = 0
            for i in 0..<p.count where abs(p.grad[i]) > abs(p.grad[best]) { best = i }
            let analytic = Double(p.grad[best])
            if abs(analytic) < 1e-4 { continue }
            let saved = p.value[best], eps: Float = 1e-2
            p.value[best] = saved + eps; let lp = loss()
            p.value[best] = saved - eps; let lm = loss()
            p.value[best] = saved
            let numeric = (lp - lm) / (2 * Double(eps))
            checked += 1
            if abs(numeric - analytic) > 0.05 * max(abs(numeric), abs(analytic)) + 1e-4 {
                bad.append("\(p.name)[\(best)]: analytic \(analytic), numeric \(numeric)")
            }
        }
        #expect(checked > minimumChecked, "\(path)")
        #expect(bad.count <= checked / 20, "\(path): \(bad)")
    }

    /// Every operator of both block kinds (stride 1 with split/concat/shuffle, stride 2
    /// with the projection branch), at several middle widths, input and all parameters.
    /// "a,b@sharing": one operator shared by a and b (kernel sharing), run as the first.
    @Test(arguments: ["shuffle3", "shuffle5", "shuffle7", "xception", "mbconv3_e3", "mbconv7_e6",
                      "shuffle3,shuffle7@crop", "shuffle5,shuffle7@transform", "mbconv3_e3,mbconv7_e6@transform",
                      "basic", "conv3", "conv5", "dwsep5", "dwsep3,dwsep7@crop"])
    func choiceOperatorGradients(name: String) {
        let parts = name.split(separator: "@")
        let group = parts[0].split(separator: ",").map { Operator(name: String($0))! }
        let sharing = parts.count > 1 ? KernelSharing(rawValue: String(parts[1]))! : .separate
        let choice = group[0]
        let rng = RNG(seed: UInt64(20 + name.count))
        for spec in [BlockSlot(index: 0, stage: 0, indexInStage: 0, stride: 2, inputSize: 8, inputWidths: [4], outputWidths: [8],
                               operators: group, middleRatios: [2, 6, 20], kernelSharing: sharing),
                     BlockSlot(index: 1, stage: 0, indexInStage: 1, stride: 1, inputSize: 6, inputWidths: [8], outputWidths: [8],
                               operators: group, middleRatios: [2, 6, 20], kernelSharing: sharing)] {
            let op = makeChoiceOperator(name: "op", slot: spec, ops: group, engine: Engine())
            if sharing == .transform {
                #expect(op.parameters.contains { $0.name.contains("kernel_transform") })
                // Transforms away from the identity, so a transposed or skipped matrix shows.
                for p in op.parameters where p.name.contains("kernel_transform") {
                    randomize(p, rng: rng, scale: 0.2)
                    for i in 0..<p.shape[0] { p.value[i * p.shape[0] + i] += 1 }
                }
            }
            for p in op.parameters where p.shape.count == 4 { randomize(p, rng: rng, scale: 0.6) }
            // BN shifts of +4 keep every ReLU input positive: the block is then smooth and a
            // central difference is exact to O(eps^2), so any wiring error shows.
            for p in op.parameters where p.shape.count == 1 { randomize(p, rng: rng, scale: 0.2, offset: p.name.hasSuffix("weight") ? 1 : 4) }
            for middle in [1, 3, 8] {
                let x = OwnedMap.random(channels: spec.inputWidths[0], height: spec.inputSize, width: spec.inputSize, batch: 6, rng: rng)
                var check = GradientCheck()
                check.maxCoordinates = 40
                // Three stacked batch norms on a few hundred values make a steep function and
                // Float32 sums make noise (~1.5e-3, measured on gradients that are exactly zero:
                // BN biases feeding conv then BN); a wiring error breaks far more coordinates
                // than the 5 % allowed here (checked by breaking the shuffle and the stride-2 add).
                check.epsilon = 2e-2
                check.tolerance = 5e-2
                check.absolute = 2e-3
                let windows = op.parameters.map { p in (p, Array(0..<p.count)) }
                // Parameters outside the active slice stay at zero gradient; the checker's window
                // lists all indices, so inactive ones are probed too and must match a zero numeric derivative.
                let report = check.report(input: x.map, parameters: windows,
                                          forward: { op.forward(x.map, output: 8, middle: middle, kernel: choice.kernel, mode: .training) },
                                          backward: { op.backward($0) }, rng: rng)
                // A plain convolution has two small tensors: fewer coordinates to probe.
                let plainConv: Bool = { if case .conv = choice { return true } else { return false } }()
                #expect(report.checked > (plainConv ? 60 : 100))
                #expect(report.failures.count <= report.checked * 5 / 100,
                        "\(name) stride \(spec.stride) middle \(middle): \(report.failures.prefix(6))")
            }
        }
    }

    @Test("kernel sharing: one operator per family, and shuffle3 and shuffle7 train the same tensors", arguments: [KernelSharing.centreCrop, .transform])
    func kernelSharingSharesWeights(sharing: KernelSharing) throws {
        BLAS.configure()
        var shared = space
        shared.kernelSharing = sharing
        let separate = Supernet(space: space, rng: RNG(seed: 3)), net = Supernet(space: shared, rng: RNG(seed: 3))
        // Per block: shuffle3/5/7 become one operator beside xception.
        #expect(shared.blocks.allSatisfy { $0.operatorGroups.count == 2 })
        let opIndices = Set(net.parameters.compactMap { p -> Substring? in
            let parts = p.name.split(separator: ".")
            return parts.count > 3 && parts[2] == "ops" ? parts[3] : nil
        })
        #expect(opIndices == ["0", "1"])
        let scalars = { (n: Supernet) in n.parameters.reduce(0) { $0 + $1.count } }
        #expect(scalars(net) < scalars(separate) * 2 / 3)  // xception keeps its own weights
        let x = OwnedMap.random(channels: 1, height: 28, width: 28, batch: 8, rng: RNG(seed: 4))
        let gradient = OwnedMap.random(channels: 10, height: 1, width: 1, batch: 8, rng: RNG(seed: 5))
        func touched(_ path: String) throws -> [String] {
            let arch = try Architecture(parsing: path, space: shared)
            for p in net.parameters { p.zeroGradient() }
            _ = net.forward(x.map, arch: arch, mode: .training)
            net.backward(gradient.map)
            return net.parameters.filter(\.touched).map(\.name)
        }
        let three = try touched("32/64/128:shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0")
        let seven = try touched("32/64/128:shuffle7@1.0,shuffle7@1.0,shuffle7@1.0,shuffle7@1.0,shuffle7@1.0,shuffle7@1.0")
        // The largest kernel reads the weight itself: no transform matrix takes part.
        #expect(seven == three.filter { !$0.contains("kernel_transform") })
        #expect(three.contains { $0.contains("kernel_transform") } == (sharing == .transform))
    }

    @Test func chunkedInferenceEqualsWholeBatch() {
        BLAS.configure()
        let net = Supernet(space: space, rng: RNG(seed: 7))
        let x = OwnedMap.random(channels: 1, height: 28, width: 28, batch: 250, rng: RNG(seed: 8))
        let arch = space.randomArchitecture(RNG(seed: 9))
        net.inferenceChunk = 1000
        let whole = net.forward(x.map, arch: arch, mode: .inference).toArray()
        net.inferenceChunk = 64
        let chunked = net.forward(x.map, arch: arch, mode: .inference).toArray()
        #expect(maxAbsDifference(whole, chunked) < 1e-4)
    }
}
