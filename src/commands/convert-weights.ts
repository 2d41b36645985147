// synthaug convert-weights: the FID Inception weights (pytorch-fid's .pth, read without running code) checked
// against the network and written once as safetensors, which later runs read directly.
import type { Argv, CommandModule } from 'yargs';
import { writeFile, rename } from 'node:fs/promises';
import { encodeSafetensors } from '../nn/safetensors.js';
import { FIDInceptionV3 } from '../models/inception.js';
import { importTorchState } from '../models/torch.js';
import { readWeightTensors } from '../models/inception-extractor.js';
import { writeStdout } from './common.js';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { backendOption } from '../backend/cli.js';

interface ConvertArgs {
  input: string;
  output: string;
  backend: BackendChoice;
}

export const convertWeightsCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert-weights <input>',
  describe: 'Convert pt_inception-2015-12-05-6726825d.pth (a PyTorch checkpoint) to safetensors, checking names and shapes',
  builder: (y: Argv) =>
    backendOption(y)
      .positional('input', { type: 'string', demandOption: true, describe: 'The PyTorch checkpoint (.pth)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'The .safetensors file to write' })
      .example('$0 convert-weights pt_inception-2015-12-05-6726825d.pth -o inception.safetensors', '') as unknown as Argv<ConvertArgs>,
  handler: async (args) => {
    const tensors = await readWeightTensors(args.input);
    await initBackend(args.backend);
    const net = new FIDInceptionV3();
    try {
      importTorchState(net, tensors, args.input); // names and shapes must be the FID network's
    } finally {
      net.dispose();
    }
    const tmp = `${args.output}.tmp-${process.pid}`;
    await writeFile(tmp, encodeSafetensors(tensors, { format: 'pt', source: 'pt_inception-2015-12-05-6726825d.pth' }));
    await rename(tmp, args.output);
    await writeStdout(`wrote ${tensors.size} tensors to ${args.output}\n`);
  },
};
