// `onnx-finetune plan <strategy>` prints a built-in strategy as a plan file (YAML), with the values its options
// give, to start a plan of one's own from; `onnx-finetune run <file>` runs it exactly as the strategy's command.
import type { Argv as Yargs } from 'yargs';
import { planYaml } from '../plan/write-plan.js';
import { STRATEGIES, type StrategyKey } from '../train/strategies.js';
import { COMMANDS, plansFor } from './run.js';
import { STRATEGY_OPTIONS, yargsOptions, type Argv } from './options.js';
import { UserError } from '../errors.js';

export const PLAN_COMMAND = 'plan';

export function withPlanCommand(cli: Yargs, stdout: NodeJS.WritableStream): Yargs {
  return cli.command(PLAN_COMMAND, 'print a built-in strategy as a plan file (YAML) to start from: onnx-finetune plan linear-probe > plan.yaml', (y) => {
    const names = STRATEGIES.map((s) => COMMANDS[s]).join(', ');
    // Without a strategy, or with one we do not have: one line naming the choices.
    let sub = y.command('$0 [strategy]', false, {}, (argv) => {
      throw new UserError(argv.strategy === undefined ? `plan needs a strategy: ${names}` : `plan: unknown strategy '${String(argv.strategy)}' (strategies: ${names})`);
    });
    for (const key of STRATEGIES) {
      // The strategy's command name, and the spelling of full fine-tune as an alias.
      const aliases = key === 'full_fine_tune' ? ['full-fine-tune'] : [];
      sub = sub.command([COMMANDS[key], ...aliases], `the ${COMMANDS[key]} command as a plan, with its options' values`,
        (z) => z.options(yargsOptions(STRATEGY_OPTIONS[key])).group(Object.keys(STRATEGY_OPTIONS[key]), `${COMMANDS[key]} options:`),
        (argv) => {
          stdout.write(planText(key, argv as Argv));
        });
    }
    return sub;
  });
}

function planText(key: StrategyKey, argv: Argv): string {
  const plan = plansFor(key, argv).plans[0];
  const comment = [
    `onnx-finetune plan: the ${COMMANDS[key]} command as a plan file. Run it with`,
    `  onnx-finetune run ${plan.strategy}.yaml --model MODEL.onnx --train TRAIN --test TEST`,
    'Model, data and run settings (--optimizer, --batch-size, --seed, ...) come from the command line; README.md "Recipes" lists the fields.',
  ].join('\n');
  return planYaml(plan, comment);
}
