-- How does each evaluated model (and the MAS teacher) do, per level? Strict mode: answers,
-- delivery and final pass rates, lazy reflections ("No errors." on a failing plan) and mean reward.
SELECT model,
       level,
       count(*) AS answers,
       round(avg(delivered::DOUBLE), 4) AS delivery_rate,
       round(avg(final_pass::DOUBLE), 4) AS final_pass_rate,
       round(avg(lazy_reflection::DOUBLE), 4) AS lazy_reflection_rate,
       round(avg(reward), 4) AS mean_reward
FROM evals
WHERE mode = 'strict'
GROUP BY model, level
ORDER BY model, level
