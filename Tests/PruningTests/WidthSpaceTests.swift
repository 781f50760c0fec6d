import Networks
import Pruning
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("Prune by search: the width-only supernet") struct WidthSpaceTests {
    @Test("the width supernet holds the reordered network: its largest candidate computes the original's output, smaller ones keep the best channels",
          arguments: ["6/12:basic@1.0,basic@1.0,basic@0.5,basic@0.5", "6/12:conv3@1.0,conv3@1.0,dwsep3@1.0,dwsep3@1.0"])
    func inheritsTheNetwork(text: String) throws {
        BLAS.configure()
        let space = try tinyClassicSpace()
        let arch = try Architecture(parsing: text, space: space)
        let model = randomModel(space, arch, seed: 6)
        let x = input(space)
        let before = logits(model, x)
        let groups = model.channelGroups
        ChannelOrder.sort(groups, scores: FilterNorm(p: 1).scores(groups, TensorStore(model)), in: TensorStore(model))
        let widths = try WidthSpace.make(from: model)
        // Stage 0 is not joined to the stem here (a projection or plain convolutions), so both stages search widths.
        #expect(widths.stages[0].widths == [1, 2, 3, 4, 5, 6] && widths.stages[1].widths == [3, 4, 6, 7, 8, 9, 10, 12])
        #expect(widths.largest == arch)
        let supernet = Supernet(space: widths, rng: RNG(seed: 1))
        try WidthSpace.inherit(model, into: supernet)
        let y = supernet.forward(x.map, arch: arch, mode: .inference).toArray()
        #expect(maxAbsDifference(y, before) <= 1e-5)
        // A smaller candidate is the leading slice: the pruned network with those counts.
        let small = widths.randomArchitecture(RNG(seed: 4))
        let extracted = try supernet.extract(small)
        #expect(extracted.parameters.reduce(0) { $0 + $1.count } == widths.cost(small).parameters)
    }

    @Test("a stage joined to the stem keeps its width; mixed operators and pinned middles are refused")
    func refusals() throws {
        let space = try tinyClassicSpace()
        let arch = try Architecture(parsing: "4/8:basic@1.0,basic@1.0,basic@1.0,basic@1.0", space: space)
        let widths = try WidthSpace.make(from: randomModel(space, arch, seed: 1))
        #expect(widths.stages[0].widths == [4])
        #expect(widths.stages[1].widths.count > 1)
        let (mSpace, mArch) = try fixture(mobileArchitectures[0])
        #expect(throws: WidthSpaceError.mixedOperators(stage: 0)) { _ = try WidthSpace.make(from: randomModel(mSpace, mArch, seed: 1)) }
        let (cSpace, cArch) = try fixture(classicArchitectures[0])
        #expect(throws: WidthSpaceError.mixedOperators(stage: 0)) { _ = try WidthSpace.make(from: randomModel(cSpace, cArch, seed: 1)) }
        var pinned = space
        pinned.stages[0].middleWidths = [3, 3]
        #expect(throws: WidthSpaceError.pinnedMiddles) { _ = try WidthSpace.make(from: randomModel(pinned, arch, seed: 1)) }
    }
}
