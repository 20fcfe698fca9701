export * from './store';
export { FileStore } from './file-store';
