import Networks

/// A plain NCHW interpreter of `InferenceGraph`, loops only: the independent reference the
/// folded graph (and with it the ONNX file and folded weights) is checked against.
func interpret(_ g: InferenceGraph, input: [Float], batch n: Int) -> [Float] {
    struct Value { var data: [Float]; var channels: Int; var size: Int }
    var values = [Value(data: input, channels: g.inputShape[0], size: g.inputShape[1])]
    for node in g.nodes {
        let x = values[node.inputs[0]]
        let s = x.size, plane = s * s
        var y: Value
        switch node.op {
        case let .normalize(mean, std):
            y = x
            for i in 0..<n { for c in 0..<x.channels { for p in 0..<plane {
                let k = (i * x.channels + c) * plane + p
                y.data[k] = (x.data[k] - mean[c]) / std[c]
            } } }
        case let .conv(c):
            let so = (s + 2 * c.padding - c.kernel) / c.stride + 1
            y = Value(data: [Float](repeating: 0, count: n * c.outputChannels * so * so), channels: c.outputChannels, size: so)
            let perGroupIn = c.inputChannels / c.groups, perGroupOut = c.outputChannels / c.groups
            for i in 0..<n { for o in 0..<c.outputChannels { for oy in 0..<so { for ox in 0..<so {
                var acc = c.bias[o]
                let group = o / perGroupOut
                for ci in 0..<perGroupIn { for ky in 0..<c.kernel { for kx in 0..<c.kernel {
                    let iy = oy * c.stride - c.padding + ky, ix = ox * c.stride - c.padding + kx
                    let inC = group * perGroupIn + ci
                    guard iy >= 0, iy < s, ix >= 0, ix < s else {
                        if let pad = c.padValue { acc += c.weight[((o * perGroupIn + ci) * c.kernel + ky) * c.kernel + kx] * pad[inC] }
                        continue
                    }
                    acc += c.weight[((o * perGroupIn + ci) * c.kernel + ky) * c.kernel + kx] * x.data[((i * x.channels + inC) * s + iy) * s + ix]
                } } }
                y.data[((i * c.outputChannels + o) * so + oy) * so + ox] = c.relu ? max(acc, 0) : acc
            } } } }
        case let .slice(lower, upper):
            y = Value(data: [], channels: upper - lower, size: s)
            for i in 0..<n { for c in lower..<upper { y.data += x.data[((i * x.channels + c) * plane)..<((i * x.channels + c + 1) * plane)] } }
        case .concat, .interleave:
            let parts = node.inputs.map { values[$0] }
            let total = parts.reduce(0) { $0 + $1.channels }
            y = Value(data: [], channels: total, size: s)
            for i in 0..<n {
                if case .concat = node.op {
                    for p in parts { y.data += p.data[(i * p.channels * plane)..<((i + 1) * p.channels * plane)] }
                } else {
                    for c in 0..<total {
                        let p = parts[c % 2], src = c / 2
                        y.data += p.data[((i * p.channels + src) * plane)..<((i * p.channels + src + 1) * plane)]
                    }
                }
            }
        case .add:
            let b = values[node.inputs[1]]
            y = x
            for k in y.data.indices { y.data[k] += b.data[k] }
        case .relu:
            y = x
            for k in y.data.indices { y.data[k] = max(y.data[k], 0) }
        case .globalAveragePool:
            y = Value(data: [Float](repeating: 0, count: n * x.channels), channels: x.channels, size: 1)
            for i in 0..<n { for c in 0..<x.channels {
                var sum: Float = 0
                for p in 0..<plane { sum += x.data[(i * x.channels + c) * plane + p] }
                y.data[i * x.channels + c] = sum / Float(plane)
            } }
        case let .linear(w, b, outputs, inputs):
            y = Value(data: [Float](repeating: 0, count: n * outputs), channels: outputs, size: 1)
            for i in 0..<n { for o in 0..<outputs {
                var acc = b[o]
                for k in 0..<inputs { acc += w[o * inputs + k] * x.data[i * inputs + k] }
                y.data[i * outputs + o] = acc
            } }
        }
        values.append(y)
    }
    return values[g.output].data
}
