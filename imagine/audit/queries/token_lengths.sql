-- How long are the training samples under the student's chat template?
-- One row per dataset: sft (prompt + completion tokens, what SFT trains on; also split by
-- reflected / not reflected) and grpo_prompts (prompt tokens, before the rollout).
SELECT dataset, count(*) AS rows, min(n) AS min, round(avg(n), 1) AS mean,
       quantile_disc(n, 0.5) AS p50, quantile_disc(n, 0.9) AS p90, max(n) AS max
FROM (
    SELECT 'sft' AS dataset, tokens AS n FROM sft
    UNION ALL SELECT CASE WHEN reflected THEN 'sft_reflected' ELSE 'sft_not_reflected' END, tokens FROM sft
    UNION ALL SELECT 'grpo_prompts', prompt_tokens FROM grpo_prompts
)
GROUP BY dataset
ORDER BY dataset
