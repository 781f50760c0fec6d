import Networks
import Pruning
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("Channel groups and reordering") struct ReorderTests {
    @Test("reordering every channel group by importance leaves the network's output unchanged",
          arguments: classicArchitectures + mobileArchitectures)
    func reorderPreservesOutput(text: String) throws {
        BLAS.configure()
        let (space, arch) = try fixture(text)
        let model = randomModel(space, arch, seed: 4)
        let x = input(space)
        let before = logits(model, x)
        let groups = model.channelGroups
        let orders = ChannelOrder.sort(groups, scores: randomScores(groups, seed: 9), in: TensorStore(model))
        // Something really moved: a reversed order of some group breaks the output when wrong.
        #expect(orders.contains { !$0.isEmpty && $0 != Array(0..<$0.count) })
        #expect(maxAbsDifference(logits(model, x), before) <= 1e-5)
    }

    @Test("coupled groups: identity shortcuts join the stem and a ResNet stage; ShuffleNet stages are frozen")
    func coupling() throws {
        let (space, arch) = try fixture(classicArchitectures[1])
        let groups = randomModel(space, arch, seed: 1).channelGroups
        // stem + stage 0 (two identity blocks), each block's middle, stage 1 (dwsep output + identity basic block).
        let joined = groups.first { $0.roles.contains(.stem) }!
        #expect(joined.roles == [.stem, .stage(0)])
        #expect(joined.producers.map(\.weight) == ["stem.conv.weight", "blocks.0.conv2.weight", "blocks.1.conv2.weight"]
            + ["blocks.2.dw.weight"])
        #expect(groups.filter { $0.roles == [.stage(1)] }.count == 1)
        #expect(groups.allSatisfy { $0.prunable })
        let (mSpace, mArch) = try fixture(mobileArchitectures[0])
        let mobile = randomModel(mSpace, mArch, seed: 1).channelGroups
        #expect(mobile.filter { !$0.prunable }.flatMap(\.roles).contains(.stage(0)))
        #expect(mobile.filter { $0.roles == [.middle(block: 1)] }.count == 2, "Xception: two middle sets of one width")
        #expect(mobile.filter(\.prunable).flatMap(\.roles).contains(.stage(1)))
    }
}
