// Where the seed notebook's global generator stands when each strategy draws its head, in words drawn since
// torch.manual_seed(seed). The notebook draws the data, then the backbone, then runs the strategies in turn
// without reseeding: each deep-copies the backbone, draws a fresh nn.Linear(16,1) head, trains (a shuffled
// DataLoader epoch draws 4 words) and evaluates after each stage (a test-loader pass draws 2). So each strategy
// here starts where it starts in the notebook, whatever this command runs before or after it.
import { NOTEBOOK_DATA_WORDS } from '../data/synthetic.js';
import { SEED_BACKBONE, SEED_BACKBONE_WORDS } from '../model/seed-backbone.js';
import { linearWords, LOADER_PASS_WORDS, SHUFFLED_EPOCH_WORDS } from './torch-rng.js';
import { fullFineTune, linearProbe, NOTEBOOK_DEFAULTS, partialUnfreeze, STRATEGIES, type Plan, type BuiltInStrategy } from './strategies.js';

const HEAD_FEATURES = SEED_BACKBONE.widths[SEED_BACKBONE.widths.length - 1];
/** Words one fresh Linear(16,1) head draws. */
export const NOTEBOOK_HEAD_WORDS = linearWords(HEAD_FEATURES, 1);

const NOTEBOOK_PLANS: Record<BuiltInStrategy, Plan> = {
  linear_probe: linearProbe(NOTEBOOK_DEFAULTS.linear_probe),
  partial_unfreeze: partialUnfreeze(NOTEBOOK_DEFAULTS.partial_unfreeze),
  full_fine_tune: fullFineTune(NOTEBOOK_DEFAULTS.full_fine_tune),
};

/** Words one notebook strategy draws: its head, its shuffled epochs, a test pass after each stage. */
const strategyWords = (plan: Plan) => NOTEBOOK_HEAD_WORDS + plan.stages.reduce((sum, stage) => sum + stage.epochs * SHUFFLED_EPOCH_WORDS + LOADER_PASS_WORDS, 0);

/** Words drawn before `strategy`'s head in the notebook's run. */
export function notebookHeadStart(strategy: BuiltInStrategy): number {
  let words = NOTEBOOK_DATA_WORDS + SEED_BACKBONE_WORDS;
  for (const earlier of STRATEGIES.slice(0, STRATEGIES.indexOf(strategy))) words += strategyWords(NOTEBOOK_PLANS[earlier]);
  return words;
}
