// The helper thread of the WASM matrix product (linalg.ts): started once by the first product that uses two
// threads, it takes chunks of rows of every product from then on.
import { workerData } from 'node:worker_threads';
import { productThread } from './linalg.js';

const { memory, control } = workerData as { memory: WebAssembly.Memory; control: Int32Array };
productThread(memory, control);
