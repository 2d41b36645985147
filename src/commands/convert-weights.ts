// synthaug convert-weights: the FID Inception weights (pytorch-fid's .pth, read without running code) checked
// against the network and written once as safetensors, which later runs read directly.
import type { Argv, CommandModule } from 'yargs';
import { writeStdout } from './common.js';
import type { BackendChoice } from '../backend/index.js';
import { writeFileAtomic } from '../util/atomic.js';

interface ConvertArgs {
  input: string;
  output: string;
  backend: BackendChoice;
}

export const convertWeightsCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert-weights <input>',
  describe: 'Convert pt_inception-2015-12-05-6726825d.pth (a PyTorch checkpoint) to safetensors, checking names and shapes',
  builder: async (y: Argv) => {
    const { backendOption } = await import('../backend/cli.js');
    return backendOption(y)
      .positional('input', { type: 'string', demandOption: true, describe: 'The PyTorch checkpoint (.pth)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'The .safetensors file to write' })
      .example('$0 convert-weights pt_inception-2015-12-05-6726825d.pth -o inception.safetensors', '') as unknown as Argv<ConvertArgs>;
  },
  handler: async (args) => {
    const [{ encodeSafetensors }, { FIDInceptionV3 }, { importTorchState }, { readWeightTensors }, { initBackend }] = await Promise.all([
      import('../nn/safetensors.js'),
      import('../models/inception.js'),
      import('../models/torch.js'),
      import('../models/inception-extractor.js'),
      import('../backend/index.js'),
    ]);
    const tensors = await readWeightTensors(args.input);
    await initBackend(args.backend);
    const net = new FIDInceptionV3();
    try {
      importTorchState(net, tensors, args.input); // names and shapes must be the FID network's
    } finally {
      net.dispose();
    }
    await writeFileAtomic(args.output, encodeSafetensors(tensors, { format: 'pt', source: 'pt_inception-2015-12-05-6726825d.pth' }));
    await writeStdout(`wrote ${tensors.size} tensors to ${args.output}\n`);
  },
};
