using System.CommandLine;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff score</c>: evaluates an NCSNv2 checkpoint on given inputs so that a converted PyTorch checkpoint
/// can be checked against PyTorch. Reads <c>x</c> [B,C,H,W], <c>sigma</c> [B] and optionally <c>v</c> [B,C,H,W];
/// writes <c>score</c> and, with <c>v</c>, <c>vjp</c> = ∂(Σ v·score)/∂x.
/// </summary>
internal static class ScoreCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var weights = new Option<FileInfo>("--weights") { Description = "NCSNv2 weights (.safetensors, PyTorch state_dict names).", Required = true };
        var input = new Option<FileInfo>("--input") { Description = "Tensors x [B,C,H,W], sigma [B], optional v [B,C,H,W] (.safetensors).", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Where to write score (and vjp) (.safetensors).", Required = true };
        var device = DeviceOption.Create();
        var command = new Command("score", "Evaluate s(x, sigma) (and the VJP with v) of an NCSNv2 checkpoint.") { weights, input, output, device };
        command.SetAction(parse =>
        {
            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var weightsFile = parse.GetValue(weights)!;
            var inputFile = parse.GetValue(input)!;
            var outFile = parse.GetValue(output)!;
            foreach (var f in new[] { weightsFile, inputFile })
            {
                if (!f.Exists)
                {
                    throw new FileNotFoundException($"{f.FullName} does not exist.");
                }
            }

            var inputs = SafetensorsReader.Read(inputFile.FullName);
            var x = inputs.GetTensor("x");
            var sigma = inputs.GetTensor("sigma");
            inputs.TryGetTensor("v", out var v);
            if (x.Shape.Length != 4)
            {
                throw new InvalidDataException($"{inputFile.Name}: 'x' must be [B, C, H, W]; got {x.ShapeText}.");
            }

            if (sigma.Shape.Length != 1 || sigma.Shape[0] != x.Shape[0])
            {
                throw new InvalidDataException($"{inputFile.Name}: 'sigma' must be [{x.Shape[0]}] (one per sample of x); got {sigma.ShapeText}.");
            }

            if (v is not null && !v.Shape.SequenceEqual(x.Shape))
            {
                throw new InvalidDataException($"{inputFile.Name}: 'v' must have the shape of x {x.ShapeText}; got {v.ShapeText}.");
            }

            foreach (var t in new[] { x, sigma, v })
            {
                if (t is not null && t.Data.Any(f => !float.IsFinite(f)))
                {
                    throw new InvalidDataException($"{inputFile.Name}: '{t.Name}' contains NaN or infinite values.");
                }
            }

            using var backend = DeviceSelector.Create(kind);
            using var net = Ncsnv2.Load(backend, weightsFile.FullName);
            var shape = new Shape(x.Shape);
            net.CheckInput(shape);
            using var xT = backend.FromHost(x.Data, shape);
            using var scoreT = backend.Allocate(shape);
            var results = new List<SafetensorsTensor>();
            if (v is null)
            {
                net.Score(xT, sigma.Data, scoreT);
            }
            else
            {
                using var vT = backend.FromHost(v.Data, shape);
                using var vjpT = backend.Allocate(shape);
                net.ScoreAndVjp(xT, sigma.Data, vT, scoreT, vjpT);
                results.Add(new SafetensorsTensor("vjp", x.Shape, vjpT.ToArray()));
            }

            results.Add(new SafetensorsTensor("score", x.Shape, scoreT.ToArray()));
            SafetensorsWriter.Write(outFile.FullName, results, new Dictionary<string, string>
            {
                ["weights"] = weightsFile.Name,
                ["device"] = backend.Description,
            });
            stdout.WriteLine($"Wrote {string.Join(" and ", results.Select(r => r.Name))} {x.ShapeText} to {outFile.FullName} ({backend.Name}, ngf {net.Ngf}).");
            return ExitCodes.Success;
        });
        return command;
    }
}
