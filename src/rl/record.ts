/** A metric line of a training run, with CleanRL's names (`charts/episodic_return`, `losses/qf_loss`, ...). */
export interface TrainRecord {
  /** Environment steps so far (CleanRL's global_step). */
  step: number;
  [metric: string]: number | string | boolean | undefined;
}
