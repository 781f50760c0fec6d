import TensorCore

/// The smaller kernels of one elastic depthwise layer, derived from its [C, K, K] weight:
/// level by level from the largest size down (7 -> 5 -> 3), each the centre crop of the
/// level above, optionally transformed. Forward keeps every level's crop for backward;
/// backward runs the chain in reverse, accumulating into the weight's and each matrix's
/// gradient. Buffers hold only the active channels. With `learnedTransform` each smaller
/// size is OFA's transform of the centre crop: the crop times a learned (k*k) x (k*k)
/// matrix per layer and size, initialised to the identity.
final class ElasticKernel {
    /// Kernel sizes, largest first.
    let sizes: [Int]
    /// One matrix per smaller size (`sizes[1...]`), [k*k, k*k]; empty for a plain crop.
    let transforms: [Parameter]
    /// Per level: its crop of the level above and its (transformed) kernel, [channels, k, k].
    private let crops: [ScratchBuffer]
    private let outputs: [ScratchBuffer]
    private let gradients: [ScratchBuffer]
    private let transposed = ScratchBuffer()
    private var channels = 0

    init(name: String, sizes: [Int], learnedTransform: Bool) {
        precondition(Set(sizes).count >= 2 && sizes.allSatisfy { $0 % 2 == 1 }, "elastic kernel \(name): sizes \(sizes)")
        self.sizes = Array(Set(sizes)).sorted(by: >)
        transforms = learnedTransform ? self.sizes.dropFirst().map { k in
            let p = Parameter(name: "\(name).kernel_transform.\(k)", shape: [k * k, k * k], decays: false)
            for i in 0..<(k * k) { p.value[i * k * k + i] = 1 }
            return p
        } : []
        crops = self.sizes.map { _ in ScratchBuffer() }
        outputs = self.sizes.map { _ in ScratchBuffer() }
        gradients = self.sizes.map { _ in ScratchBuffer() }
    }

    private func level(of kernel: Int) -> Int {
        guard let l = sizes.firstIndex(of: kernel) else { preconditionFailure("elastic kernel: size \(kernel) not in \(sizes)") }
        return l
    }

    /// The [channels, k, k] kernel of size `kernel` (smaller than the largest) from `weight`.
    func weights(_ weight: UnsafePointer<Float>, kernel: Int, channels: Int) -> UnsafePointer<Float> {
        let target = level(of: kernel)
        precondition(target > 0, "elastic kernel: the largest size reads the weight itself")
        self.channels = channels
        for l in 1...target {
            let big = sizes[l - 1], k = sizes[l], o = (big - k) / 2, kk = k * k
            let src = l == 1 ? weight : UnsafePointer(outputs[l - 1].pointer)
            let crop = crops[l].reserve(channels * kk), out = outputs[l].reserve(channels * kk)
            for c in 0..<channels { for i in 0..<k { for j in 0..<k {
                crop[c * kk + i * k + j] = src[c * big * big + (i + o) * big + j + o]
            } } }
            if transforms.isEmpty {
                out.update(from: crop, count: channels * kk)
            } else {
                // out[c, q] = sum_p M[q, p] * crop[c, p]  (OFA: F.linear(crop, M))
                let m = transforms[l - 1].value
                for c in 0..<channels { for q in 0..<kk {
                    var s: Float = 0
                    for p in 0..<kk { s += m[q * kk + p] * crop[c * kk + p] }
                    out[c * kk + q] = s
                } }
            }
        }
        return UnsafePointer(outputs[target].pointer)
    }

    /// The kernel the last `weights(...)` made for size `kernel`.
    func currentWeights(kernel: Int) -> UnsafePointer<Float> { UnsafePointer(outputs[level(of: kernel)].pointer) }

    /// A zeroed [channels, k, k] buffer for the gradient of the last `weights(...)`.
    func gradientBuffer(kernel: Int) -> UnsafeMutablePointer<Float> {
        let n = channels * kernel * kernel
        let g = gradients[level(of: kernel)].reserve(n)
        g.update(repeating: 0, count: n)
        return g
    }

    /// Backward of the last `weights(...)`: the gradient in `gradientBuffer` flows through
    /// the transforms and crops into `weightGradient` ([C, K, K]) and the matrices' gradients.
    func backward(kernel: Int, into weightGradient: UnsafeMutablePointer<Float>) {
        var l = level(of: kernel)
        while l > 0 {
            let big = sizes[l - 1], k = sizes[l], o = (big - k) / 2, kk = k * k
            let g = gradients[l].pointer, crop = crops[l].pointer
            // The crop's gradient: M^T g with a transform, g itself without.
            var gCrop = g
            if !transforms.isEmpty {
                let t = transforms[l - 1]
                t.touched = true
                for c in 0..<channels { for q in 0..<kk {
                    let gq = g[c * kk + q]
                    for p in 0..<kk { t.grad[q * kk + p] += gq * crop[c * kk + p] }
                } }
                let out = transposed.reserve(channels * kk)
                for c in 0..<channels { for p in 0..<kk {
                    var s: Float = 0
                    for q in 0..<kk { s += t.value[q * kk + p] * g[c * kk + q] }
                    out[c * kk + p] = s
                } }
                gCrop = out
            }
            // Scatter into the centre of the level above: the weight's gradient, or the
            // gradient of the transformed kernel the crop was taken from.
            let above: UnsafeMutablePointer<Float>
            if l == 1 {
                above = weightGradient
            } else {
                above = gradients[l - 1].reserve(channels * big * big)
                above.update(repeating: 0, count: channels * big * big)
            }
            for c in 0..<channels { for i in 0..<k { for j in 0..<k {
                above[c * big * big + (i + o) * big + j + o] += gCrop[c * kk + i * k + j]
            } } }
            l -= 1
        }
    }
}
