import Datasets
import Foundation
import Layers
import Networks
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite struct CostTests {
    let space = SearchSpace.reference

    @Test func goldenCostsOfThePeer() throws {
        // Values printed by the PyTorch peer benchmark's path_cost / extreme_path (peer_torch.py).
        let smallest = space.smallest, largest = space.largest
        #expect(space.cost(smallest) == Cost(macs: 1_060_926, parameters: 49_354))
        #expect(space.cost(largest) == Cost(macs: 4_768_512, parameters: 131_226))
        #expect(smallest.description == "32/64/128:shuffle3@0.2,shuffle3@0.2,xception@0.2,shuffle3@0.2,xception@0.2,shuffle3@0.2")
        let p = try Architecture(parsing: "32/64/128:xception@1.4,shuffle3@1.0,xception@1.4,shuffle7@1.6,shuffle7@2.0,shuffle5@1.8", space: space)
        #expect(space.cost(p) == Cost(macs: 2_847_915, parameters: 101_960))
        // All candidates at max width, BN affine included (the peer's supernet count).
        let net = Supernet(space: space, rng: RNG(seed: 1))
        #expect(net.parameters.reduce(0) { $0 + $1.count } == 343_130)
    }

    @Test(arguments: ["reference", "fmnist-shufflenet", "fmnist-shufflenet-deep", "fmnist-mobilenetv2", "cifar10-shufflenet"])
    func analyticMACsEqualExecutedMACs(spaceName: String) throws {
        BLAS.configure()
        let space = spaceName == "reference" ? SearchSpace.reference : try SpaceFile.load(repositoryFile("search-spaces/\(spaceName).yaml"))
        // The MAC counter belongs to this network's engine: other tests running at the same
        // time count into their own.
        let profiler = Profiler(countingMACs: true)
        let net = Supernet(space: space, rng: RNG(seed: 2), engine: Engine(profiler: profiler))
        let x = OwnedMap.random(channels: space.inputChannels, height: space.inputSize, width: space.inputSize, batch: 2, rng: RNG(seed: 3))
        let rng = RNG(seed: 4)
        var archs = [space.smallest, space.largest]
        for _ in 0..<30 { archs.append(space.randomArchitecture(rng)) }
        for arch in archs {
            profiler.executedMACs = 0
            _ = net.forward(x.map, arch: arch, mode: .inference)
            #expect(profiler.executedMACs == 2 * space.cost(arch).macs, "\(arch)")
        }
        // Parameters: the analytic count equals the number of entries that receive a gradient
        // in a training step. BN shifts of +4 keep every ReLU open, so no active weight gets an
        // exactly-zero gradient by accident. A BN shift feeding a linear conv and another BN has
        // a gradient that is zero in exact arithmetic (the next BN removes it), so BN biases are
        // counted by their gamma's active channels.
        for bn in net.norms { bn.beta.value.update(repeating: 4, count: bn.maxChannels) }
        let labels: [Int32] = [0, 1]
        let ce = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        // An entry counts as active when either of two batches gives it a nonzero gradient: one
        // batch can, rarely, sum an active entry's gradient to exactly 0.0 in Float32.
        let x2 = OwnedMap.random(channels: space.inputChannels, height: space.inputSize, width: space.inputSize, batch: 2, rng: RNG(seed: 5))
        let byName = Dictionary(uniqueKeysWithValues: net.parameters.map { ($0.name, $0) })
        for arch in archs.prefix(8) {
            var nonzero: [String: Set<Int>] = [:]
            for input in [x, x2] {
                for p in net.parameters { p.zeroGradient() }
                let z = net.forward(input.map, arch: arch, mode: .training)
                let r = labels.withUnsafeBufferPointer { ce.evaluate(logits: z, labels: $0, gradient: true) }
                net.backward(r.gradient!)
                for p in net.parameters where p.touched {
                    var counted = p
                    if p.shape.count == 1, p.name.hasSuffix(".bias"), let g = byName[String(p.name.dropLast(5)) + ".weight"], g.shape.count == 1 {
                        counted = g
                    }
                    for i in 0..<counted.count where counted.grad[i] != 0 { nonzero[p.name, default: []].insert(i) }
                }
            }
            let active = nonzero.values.reduce(0) { $0 + $1.count }
            #expect(active == space.cost(arch).parameters, "\(arch)")
        }
        for p in net.parameters { p.zeroGradient() }
    }
}
